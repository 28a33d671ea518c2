package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// start runs the local stack until the returned stop is called.
func start(t *testing.T, o options) (url string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, func(u string) { ready <- u }) }()
	select {
	case url = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("the local stack did not get ready")
	}
	return url, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
}

func request(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

func TestRunSnapshotsAndRestores(t *testing.T) {
	t.Setenv("WORKBENCH_OPERATOR_KEY", "")
	data := t.TempDir()
	o := options{addr: "127.0.0.1:0", data: data, template: "../../template.yaml", debounce: 50 * time.Millisecond, python: "../.."}

	url, stop := start(t, o)
	if status, body := request(t, "GET", url+"/v1/health", "", ""); status != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("health = %d %s", status, body)
	}
	tenant := `{"code":"acme","name":"Acme","admin":{"name":"Ann","mobile":"13900001111"}}`
	if status, body := request(t, "POST", url+"/v1/platform/tenants", "local-operator-key", tenant); status != 201 {
		t.Fatalf("create tenant = %d %s", status, body)
	}
	// The debounced snapshot comes without a stop.
	snapshot := filepath.Join(data, "data", "TenantsTable.json")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(snapshot)
		if strings.Contains(string(b), "acme") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot with the tenant after a mutation: %q", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status, body := request(t, "GET", url+"/_local/sms?mobile=13900001111", "", ""); status != 200 || !strings.Contains(body, `"to":"13900001111"`) {
		t.Errorf("sms = %d %s", status, body)
	}
	stop()

	url, stop = start(t, o)
	status, body := request(t, "GET", url+"/v1/platform/tenants/acme", "local-operator-key", "")
	var got map[string]any
	if status != 200 || json.Unmarshal([]byte(body), &got) != nil {
		t.Errorf("tenant after restart = %d %s", status, body)
	}
	stop()

	o.fresh = true
	url, stop = start(t, o)
	if status, body := request(t, "GET", url+"/v1/platform/tenants/acme", "local-operator-key", ""); status != 404 {
		t.Errorf("tenant after a fresh start = %d %s", status, body)
	}
	stop()
}

func TestSnapshotterDebounces(t *testing.T) {
	saves := make(chan time.Time, 10)
	s := &snapshotter{delay: 30 * time.Millisecond, save: func() error { saves <- time.Now(); return nil }}
	for range 5 {
		s.touch()
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-saves:
	case <-time.After(time.Second):
		t.Fatal("no snapshot after a burst of changes")
	}
	select {
	case <-saves:
		t.Fatal("a burst of changes gave two snapshots")
	case <-time.After(100 * time.Millisecond):
	}
	if err := s.flush(); err != nil || len(saves) != 1 {
		t.Errorf("flush: %v, %d saves", err, len(saves))
	}
}
