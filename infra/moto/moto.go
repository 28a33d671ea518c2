// Package moto runs moto's server, the local stand-in for AWS, and reads
// what it records.
//
// The server is a Python program; this package finds an interpreter that
// has moto, installs one into a virtual environment when asked, and starts
// the server as a child process that dies with its parent.
package moto

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Requirement is the pip requirement Install installs.
const Requirement = "moto[server]>=5.2,<6"

// ErrNotInstalled is returned when no interpreter can import moto 5.
var ErrNotInstalled = errors.New("moto[server] 5.x is not installed for python3: run `make deps` (creates .local/venv and pip-installs moto[server])")

//go:embed launcher.py
var launcher []byte

// check succeeds in an interpreter that has what the launcher needs.
const check = "import moto, werkzeug, sys; sys.exit(0 if moto.__version__.startswith('5.') else 3)"

// VenvPython is the interpreter of the virtual environment Install creates
// under dir.
func VenvPython(dir string) string {
	return filepath.Join(dir, ".local", "venv", "bin", "python")
}

// FindPython returns an interpreter that can import moto 5 and werkzeug:
// $WORKBENCH_PYTHON, else the virtual environment under dir, else python3.
// It returns ErrNotInstalled when none can.
func FindPython(ctx context.Context, dir string) (string, error) {
	candidates := []string{VenvPython(dir), "python3"}
	if p := os.Getenv("WORKBENCH_PYTHON"); p != "" {
		candidates = []string{p}
	}
	for _, p := range candidates {
		if exec.CommandContext(ctx, p, "-c", check).Run() == nil {
			return p, nil
		}
	}
	return "", ErrNotInstalled
}

// Install creates the virtual environment under dir (dir/.local/venv) and
// installs moto into it, writing pip's output to log. It returns the
// environment's interpreter.
func Install(ctx context.Context, dir string, log io.Writer) (string, error) {
	if log == nil {
		log = io.Discard
	}
	venv := filepath.Dir(filepath.Dir(VenvPython(dir)))
	steps := [][]string{
		{"python3", "-m", "venv", venv},
		{filepath.Join(venv, "bin", "pip"), "install", "--disable-pip-version-check", "--quiet", Requirement},
	}
	for _, args := range steps {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("moto: %s: %w", strings.Join(args, " "), err)
		}
	}
	py := VenvPython(dir)
	if err := exec.CommandContext(ctx, py, "-c", check).Run(); err != nil {
		return "", fmt.Errorf("moto: installed, but %s cannot import moto 5: %w", py, err)
	}
	return py, nil
}

// Options configure Start.
type Options struct {
	// Python is the interpreter; empty means FindPython(Dir).
	Python string
	Dir    string
	// Addr is the host:port to listen on; empty means 127.0.0.1 on a port
	// the system picks.
	Addr string
	// Log receives the server's own output (errors, tracebacks); nil
	// discards it.
	Log io.Writer
	// StartTimeout bounds how long the server may take to come up;
	// zero means 30s.
	StartTimeout time.Duration
	// Stock serves moto without the launcher's patches (see launcher.py),
	// for the tests that compare the two.
	Stock bool
}

// Server is a running moto server.
type Server struct {
	// Endpoint is the server's base URL, for AWS_ENDPOINT_URL.
	Endpoint string

	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

// Start launches moto and waits until it answers. Without opts.Python it
// tries $WORKBENCH_PYTHON, else the virtual environment under opts.Dir if
// there is one, then python3, and returns ErrNotInstalled when none has
// moto.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Python != "" {
		return start(ctx, opts.Python, opts)
	}
	candidates := []string{"python3"}
	if _, err := os.Stat(VenvPython(opts.Dir)); err == nil {
		candidates = []string{VenvPython(opts.Dir), "python3"}
	}
	if p := os.Getenv("WORKBENCH_PYTHON"); p != "" {
		candidates = []string{p}
	}
	var err error
	for _, py := range candidates {
		var s *Server
		if s, err = start(ctx, py, opts); !errors.Is(err, ErrNotInstalled) {
			return s, err
		}
	}
	return nil, err
}

// missing is the launcher's exit status when it cannot import moto 5.
const missing = 3

func start(ctx context.Context, py string, opts Options) (*Server, error) {
	host, port := "127.0.0.1", "0"
	if opts.Addr != "" {
		var err error
		if host, port, err = net.SplitHostPort(opts.Addr); err != nil {
			return nil, fmt.Errorf("moto: address %q: %w", opts.Addr, err)
		}
	}
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}

	// The server must outlive ctx, which only bounds the start.
	args := []string{"-", "workbench-moto", host, port, strconv.Itoa(os.Getpid())}
	if opts.Stock {
		args = append(args, "stock")
	}
	cmd := exec.Command(py, args...)
	cmd.Stdin = bytes.NewReader(launcher)
	detach(cmd)
	var stderr tail
	cmd.Stderr = &stderr
	if opts.Log != nil {
		cmd.Stderr = io.MultiWriter(opts.Log, &stderr)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("moto: %w", err)
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (%v)", ErrNotInstalled, err)
		}
		return nil, fmt.Errorf("moto: start %s: %w", py, err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{})}

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "moto ready on port "); ok {
				ready <- p
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // keep the pipe drained; it ends with the process
	}()
	go func() {
		_ = cmd.Wait() // a server that was stopped exits with a signal
		close(s.done)
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case p := <-ready:
		if _, err := strconv.Atoi(p); err != nil {
			s.Stop()
			return nil, fmt.Errorf("moto: odd ready line %q", p)
		}
		s.Endpoint = "http://" + net.JoinHostPort(host, p)
		return s, nil
	case <-s.done:
		if cmd.ProcessState.ExitCode() == missing {
			return nil, fmt.Errorf("%w (%s: %s)", ErrNotInstalled, py, stderr.String())
		}
		return nil, fmt.Errorf("moto: %s exited at start (%v): %s", py, cmd.ProcessState, stderr.String())
	case <-timer.C:
		s.Stop()
		return nil, fmt.Errorf("moto: server did not start within %v: %s", timeout, stderr.String())
	case <-ctx.Done():
		s.Stop()
		return nil, fmt.Errorf("moto: %w", ctx.Err())
	}
}

// Stop ends the server and waits for it to exit.
func (s *Server) Stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM) // it may have exited: s.done tells
		select {
		case <-s.done:
		case <-time.After(3 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// Done is closed when the server has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// SMS is a text message published through SNS to a phone number.
type SMS struct {
	MessageID   string `json:"message_id"`
	PhoneNumber string `json:"phone_number"` // E.164, as published
	Message     string `json:"message"`
}

// Messages returns every SMS the server has recorded, oldest first. It asks
// the launcher's own /_workbench/sms, which is cheap, and falls back to
// moto's /moto-api/data.json, which serialises every model the server
// holds, for a server this package did not start.
func Messages(ctx context.Context, endpoint string) ([]SMS, error) {
	var list []SMS
	err := call(ctx, http.MethodGet, endpoint+"/_workbench/sms", &list)
	if !errors.Is(err, errNotFound) {
		return list, err
	}
	return modelSMS(ctx, endpoint)
}

func modelSMS(ctx context.Context, endpoint string) ([]SMS, error) {
	var data struct {
		SNS struct {
			SMS []SMS `json:"SMS"`
		} `json:"sns"`
	}
	if err := call(ctx, http.MethodGet, endpoint+"/moto-api/data.json", &data); err != nil {
		return nil, err
	}
	return data.SNS.SMS, nil
}

// Stats is what the launcher reports of the server's own footprint.
type Stats struct {
	RSSBytes    int64 `json:"rssBytes"`    // resident memory
	TablesAlive int   `json:"tablesAlive"` // DynamoDB table objects in memory, copies included
	// Queries that read only the partition or index key they asked for,
	// and those that read the whole table (as stock moto does for all).
	QueriesNarrowed int `json:"queriesNarrowed"`
	QueriesWhole    int `json:"queriesWhole"`
	// Items the narrowed queries handed to moto's own query to sort and
	// walk: about a page each when a Query pages through a partition.
	QueryCandidates int `json:"queryCandidates"`
	// Item reads answered through moto's JSON encoder rather than its
	// service-model serializer.
	ReadsDumped int `json:"readsDumped"`
	// Transactions answered from their ClientRequestToken, not run again.
	TransactionsReplayed int `json:"transactionsReplayed"`
}

// ReadStats asks a server this package started for its Stats.
func ReadStats(ctx context.Context, endpoint string) (Stats, error) {
	var st Stats
	err := call(ctx, http.MethodGet, endpoint+"/_workbench/stats", &st)
	return st, err
}

// TableVersions returns, per table name, how many writes the launcher has
// seen since it started; a table written to since a snapshot has a new
// version, and a table never written to is missing. A server this package
// did not start does not count: TableVersions returns nil.
func TableVersions(ctx context.Context, endpoint string) (map[string]int64, error) {
	versions := map[string]int64{}
	err := call(ctx, http.MethodGet, endpoint+"/_workbench/versions", &versions)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	return versions, err
}

// ErrNoDump is returned by TableItems by a server that cannot dump tables
// (not started by this package): page through the table with Scan instead.
var ErrNoDump = errors.New("moto: the server does not dump tables")

// TableItems returns every item of a table in DynamoDB JSON, and the
// table's version as TableVersions counts it, in one request: moto pages a
// Scan through a sorted copy of the whole table once per page.
func TableItems(ctx context.Context, endpoint, table string) (version int64, items []map[string]json.RawMessage, err error) {
	var dump struct {
		Version int64
		Items   []map[string]json.RawMessage
	}
	err = call(ctx, http.MethodGet, endpoint+"/_workbench/items?table="+url.QueryEscape(table), &dump)
	if errors.Is(err, errNotFound) {
		if versions, verr := TableVersions(ctx, endpoint); verr == nil && versions == nil {
			return 0, nil, ErrNoDump
		}
		return 0, nil, fmt.Errorf("moto: no table %s", table)
	}
	return dump.Version, dump.Items, err
}

// Reset wipes every resource and record of the server.
func Reset(ctx context.Context, endpoint string) error {
	return call(ctx, http.MethodPost, endpoint+"/moto-api/reset", nil)
}

func call(ctx context.Context, method, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return fmt.Errorf("moto: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("moto: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("moto: %s %s: %w", method, url, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return errNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("moto: %s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(body))
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			return fmt.Errorf("moto: %s %s: %w", method, url, err)
		}
	}
	return nil
}

var errNotFound = errors.New("moto: not found")

// tail keeps the last few kilobytes written to it, for error messages.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if n := len(t.buf) - 4096; n > 0 {
		t.buf = t.buf[n:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
