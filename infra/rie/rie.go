// Package rie runs a function's Lambda binary under the Runtime Interface
// Emulator (aws-lambda-rie), so a test can invoke the very bootstrap that
// is deployed, through the Lambda Runtime API, rather than its handler
// in-process.
package rie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Module is the emulator Install installs.
const Module = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// ErrNotInstalled is returned by Find when there is no aws-lambda-rie.
var ErrNotInstalled = errors.New("aws-lambda-rie is not installed: run `go install " + Module + "`")

// Find returns the emulator: aws-lambda-rie in $(go env GOPATH)/bin, or
// else on $PATH.
func Find(ctx context.Context) (string, error) {
	if gopath, err := goEnv(ctx, "GOPATH"); err == nil {
		for _, dir := range filepath.SplitList(gopath) {
			p := filepath.Join(dir, "bin", "aws-lambda-rie")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	return "", ErrNotInstalled
}

// Install installs the emulator with go install and returns its path.
func Install(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "install", Module).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("rie: go install %s: %w: %s", Module, err, bytes.TrimSpace(out))
	}
	return Find(ctx)
}

// Build compiles the main package pkg (an import path or ./dir) as Lambda
// runs it: a static Linux binary named bootstrap, without the RPC mode
// (lambda.norpc), for this machine's architecture so the emulator can run
// it here. It returns the binary's path in dir.
func Build(ctx context.Context, pkg, dir string) (string, error) {
	bootstrap := filepath.Join(dir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", bootstrap, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("rie: build %s: %w: %s", pkg, err, bytes.TrimSpace(out))
	}
	return bootstrap, nil
}

// Options configure Start.
type Options struct {
	// RIE is the emulator's path; empty means Find.
	RIE string
	// Bootstrap is the function's binary.
	Bootstrap string
	// Env is the function's environment. The emulator passes its own
	// environment to the function, so this is all the function sees
	// besides PATH, HOME and what the emulator adds.
	Env map[string]string
	// Log receives the emulator's and the function's output; nil discards
	// it.
	Log io.Writer
}

// Emulator is a running emulator with one function.
type Emulator struct {
	// URL is the emulator's invocation endpoint.
	URL string

	cmd    *exec.Cmd
	done   chan struct{}
	invoke sync.Mutex // the emulator serves one invocation at a time
	once   sync.Once
}

// Start starts the emulator on free local ports and waits until it
// accepts connections. The function itself starts on the first Invoke.
func Start(ctx context.Context, opts Options) (*Emulator, error) {
	bin := opts.RIE
	if bin == "" {
		var err error
		if bin, err = Find(ctx); err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// The Runtime API's default port, 9001, would clash between emulators.
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--log-level", "error",
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", apiAddr,
		opts.Bootstrap)
	cmd.Dir = filepath.Dir(opts.Bootstrap)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range opts.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if opts.Log != nil {
		cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
	}
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("rie: start %s: %w", bin, err)
	}
	e := &Emulator{URL: "http://" + addr + "/2015-03-31/functions/function/invocations", cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // a stopped emulator exits with a signal
		close(e.done)
	}()

	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return e, nil
		}
		select {
		case <-e.done:
			return nil, fmt.Errorf("rie: the emulator exited at start: %v", cmd.ProcessState)
		case <-ctx.Done():
			e.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.Stop()
			return nil, fmt.Errorf("rie: the emulator does not listen on %s: %w", addr, err)
		}
	}
}

// FunctionError is the error a function returned, as the Runtime API
// reports it.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// Invoke invokes the function with payload and returns its result. Calls
// are serialised: the emulator fails on concurrent invocations.
func (e *Emulator) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	e.invoke.Lock()
	defer e.invoke.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("rie: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rie: invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("rie: invoke: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("rie: invoke: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var fe FunctionError
	if json.Unmarshal(body, &fe) == nil && fe.Type != "" && fe.Message != "" && !strings.Contains(string(body), `"statusCode"`) {
		return nil, &fe
	}
	return body, nil
}

// Stop ends the emulator and with it the function.
func (e *Emulator) Stop() {
	e.once.Do(func() {
		kill(e.cmd, e.done)
		<-e.done
	})
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("rie: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func goEnv(ctx context.Context, name string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", name).Output()
	return strings.TrimSpace(string(out)), err
}
