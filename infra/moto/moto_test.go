package moto

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

func TestServer(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, Options{Dir: "../.."})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()

	client := sns.New(sns.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	for _, m := range []struct{ to, text string }{{"+8613900000001", "first"}, {"+8613900000002", "second"}} {
		if _, err := client.Publish(ctx, &sns.PublishInput{PhoneNumber: aws.String(m.to), Message: aws.String(m.text)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Messages(ctx, s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].PhoneNumber != "+8613900000001" || got[0].Message != "first" || got[1].Message != "second" || got[0].MessageID == "" {
		t.Fatalf("Messages = %+v", got)
	}
	if fromModel, err := modelSMS(ctx, s.Endpoint); err != nil || !reflect.DeepEqual(fromModel, got) {
		t.Fatalf("data.json has %+v, %v; the launcher %+v", fromModel, err, got)
	}

	if err := Reset(ctx, s.Endpoint); err != nil {
		t.Fatal(err)
	}
	if got, err := Messages(ctx, s.Endpoint); err != nil || len(got) != 0 {
		t.Fatalf("after Reset, Messages = %+v, %v", got, err)
	}

	s.Stop()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("server still running after Stop")
	}
	if resp, err := http.Get(s.Endpoint + "/moto-api/data.json"); err == nil {
		resp.Body.Close()
		t.Fatal("server still answers after Stop")
	}
}

func TestNotInstalled(t *testing.T) {
	t.Setenv("WORKBENCH_PYTHON", "/nonexistent/python")
	if _, err := FindPython(context.Background(), t.TempDir()); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("FindPython = %v, want ErrNotInstalled", err)
	}
	if _, err := Start(context.Background(), Options{Dir: t.TempDir()}); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Start = %v, want ErrNotInstalled", err)
	}
}

func TestMotoMissing(t *testing.T) {
	// python3 without site-packages cannot import moto.
	py := filepath.Join(t.TempDir(), "python")
	if err := os.WriteFile(py, []byte("#!/bin/sh\nexec python3 -S \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{Python: py})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Start = %v, want ErrNotInstalled", err)
	}
	if _, err := FindPython(context.Background(), t.TempDir()); err != nil {
		t.Fatalf("FindPython = %v, want python3", err)
	}
}

func TestStartFailure(t *testing.T) {
	// An interpreter that exits at once: the error must say so promptly.
	_, err := Start(context.Background(), Options{Python: "false", StartTimeout: 10 * time.Second})
	if err == nil {
		t.Fatal("Start succeeded with an interpreter that exits")
	}
}

// A server whose parent is killed outright exits by itself.
func TestServerDiesWithParent(t *testing.T) {
	if os.Getenv("MOTO_TEST_PARENT") == "1" {
		s, err := Start(context.Background(), Options{Dir: "../.."})
		if err != nil {
			os.Exit(1)
		}
		os.Stdout.WriteString(s.Endpoint + "\n")
		time.Sleep(time.Minute) // until killed
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithParent$")
	cmd.Env = append(os.Environ(), "MOTO_TEST_PARENT=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("the parent did not start a server: %v", err)
	}
	endpoint := strings.TrimSpace(line)
	if _, err := Messages(context.Background(), endpoint); err != nil {
		t.Fatalf("the server does not answer: %v", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: the error is the signal
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := Messages(context.Background(), endpoint); err != nil {
			return // gone
		}
		if time.Now().After(deadline) {
			t.Fatal("the server outlived its parent")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
