// Package stacktest stands up the whole stack for an integration test:
// every function of template.yaml, built by workbench/shared/stack, behind
// the local API gateway, on tables and secrets of the test's own.
//
// One moto server serves every test of a test binary (or the one named by
// $WORKBENCH_MOTO_ENDPOINT); each New gets a fresh namespace on it, so
// tests may run in parallel:
//
//	func TestCreateTenant(t *testing.T) {
//		t.Parallel()
//		st := stacktest.New(t)
//		mobile := st.Mobile()
//		status, body, _ := st.Do(t, "POST", "/v1/platform/tenants", st.OperatorKey(), map[string]any{
//			"code": "acme", "name": "Acme", "admin": map[string]string{"name": "Ann", "mobile": mobile},
//		})
//		if status != http.StatusCreated {
//			t.Fatalf("create tenant: %d %s", status, body)
//		}
//		if sms := st.SMS(t, mobile); len(sms) != 1 {
//			t.Fatalf("SMS to the admin: %+v", sms)
//		}
//	}
package stacktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"workbench/infra/awscalls"
	"workbench/infra/localstack"
	"workbench/infra/moto"
	"workbench/infra/template"
	"workbench/shared/dynamo"
	"workbench/shared/stack"
)

// Stack is one test's stack.
type Stack struct {
	// URL is the base URL of the gateway serving the functions.
	URL string
	// Endpoint is the moto server's base URL.
	Endpoint string
	// Tables maps each table's logical id to its name in this stack.
	Tables map[string]string

	t      testing.TB
	now    func() time.Time
	local  *localstack.Stack
	fns    map[string]*localstack.Function
	client *http.Client
	gw     *localstack.Gateway

	streamsOnce sync.Once
	streams     *localstack.Streams
}

// An Option changes how New builds the stack.
type Option func(*options)

type options struct {
	now       func() time.Time
	settings  map[string]string
	functions map[string]map[string]string
	counter   *dynamo.Counter
	dynamoDB  []func(*dynamodb.Options)
}

// WithClock makes now the clock of every function.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithEnv overrides function settings (environment variables) of every
// function. Later calls add to earlier ones.
func WithEnv(settings map[string]string) Option {
	return func(o *options) {
		if o.settings == nil {
			o.settings = map[string]string{}
		}
		for k, v := range settings {
			o.settings[k] = v
		}
	}
}

// WithFunctionEnv overrides settings of the function with the given
// logical id only, after WithEnv's.
func WithFunctionEnv(logicalID string, settings map[string]string) Option {
	return func(o *options) {
		if o.functions == nil {
			o.functions = map[string]map[string]string{}
		}
		if o.functions[logicalID] == nil {
			o.functions[logicalID] = map[string]string{}
		}
		maps.Copy(o.functions[logicalID], settings)
	}
}

// WithDynamoDB applies opts to every function's DynamoDB client: a test's
// own middleware, say a fault injector.
func WithDynamoDB(opts ...func(*dynamodb.Options)) Option {
	return func(o *options) { o.dynamoDB = append(o.dynamoDB, opts...) }
}

// WithCounter counts the DynamoDB round trips of every function in c.
func WithCounter(c *dynamo.Counter) Option {
	return func(o *options) { o.counter = c }
}

// New provisions a fresh namespace on the shared moto server, builds every
// function of the template with stack.Functions and serves them. The test
// fails (it is not skipped) when moto is not installed. Everything is torn
// down when the test ends.
func New(t testing.TB, opts ...Option) *Stack {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	env, err := shared()
	if err != nil {
		t.Fatalf("stacktest: %v", err)
	}
	cfg := localstack.Config{
		Template:         env.template,
		Endpoint:         env.endpoint,
		Prefix:           prefix(t.Name()),
		Settings:         o.settings,
		FunctionSettings: o.functions,
		Now:              o.now,
		Recorder:         env.recorder,
	}
	if o.counter != nil {
		cfg.DynamoDBOptions = append(cfg.DynamoDBOptions, dynamo.WithCounter(o.counter))
	}
	cfg.DynamoDBOptions = append(cfg.DynamoDBOptions, o.dynamoDB...)
	ls, err := localstack.New(cfg)
	if err != nil {
		t.Fatalf("stacktest: %v", err)
	}
	ctx := context.Background()
	if err := ls.Provision(ctx); err != nil {
		t.Fatalf("stacktest: %v", err)
	}
	t.Cleanup(func() {
		if err := ls.Delete(context.Background()); err != nil {
			t.Logf("stacktest: %v", err)
		}
	})

	// The server listens before the functions are built: the push function
	// posts to the gateway's Management API.
	srv := httptest.NewUnstartedServer(nil)
	srv.Listener = localstack.Listener(srv.Listener)
	ls.SetGatewayURL("http://" + srv.Listener.Addr().String())
	builders := make(map[string]localstack.Builder, len(stack.Functions))
	for id, b := range stack.Functions {
		builders[id] = localstack.Builder(b)
	}
	fns, err := ls.Build(ctx, builders)
	if err != nil {
		srv.Close()
		t.Fatalf("stacktest: %v", err)
	}
	gw, err := ls.Gateway(fns)
	if err != nil {
		srv.Close()
		t.Fatalf("stacktest: %v", err)
	}
	srv.Config.Handler = gw
	srv.Start()
	t.Cleanup(srv.Close)
	if gw.WebSockets != nil {
		t.Cleanup(gw.WebSockets.Close)
	}

	return &Stack{
		gw:       gw,
		URL:      srv.URL,
		Endpoint: env.endpoint,
		Tables:   ls.Tables(),
		t:        t,
		now:      o.now,
		local:    ls,
		fns:      fns,
		client:   &http.Client{Timeout: time.Minute},
	}
}

// DynamoDB returns a client of the stack's DynamoDB, with opts applied
// (dynamo.WithCounter(c), say).
func (s *Stack) DynamoDB(opts ...func(*dynamodb.Options)) *dynamodb.Client {
	return s.local.DynamoDB(opts...)
}

// Env returns the environment the function with the given logical id was
// built from.
func (s *Stack) Env(logicalID string) map[string]string {
	s.t.Helper()
	env, err := s.local.Env(logicalID)
	if err != nil {
		s.t.Fatalf("stacktest: %v", err)
	}
	return env
}

// OperatorKey returns the platform operator's bearer key on this stack.
func (s *Stack) OperatorKey() string {
	sec := template.Secret{LogicalID: "OperatorKeySecret"}
	key, _ := localstack.SecretValue(sec)
	return key
}

// SMS is a text message sent on the stack.
type SMS struct {
	To   string // 11 digits
	Text string
}

// SMS returns the messages sent to mobile (11 digits or +86…), oldest
// first, as GET /_local/sms reports them.
func (s *Stack) SMS(t testing.TB, mobile string) []SMS {
	t.Helper()
	var out struct{ Items []SMS }
	status, body, _ := s.Do(t, http.MethodGet, "/_local/sms?mobile="+url.QueryEscape(mobile), "", nil)
	if status != http.StatusOK {
		t.Fatalf("stacktest: GET /_local/sms: %d %s", status, body)
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("stacktest: GET /_local/sms: %v", err)
	}
	return out.Items
}

// Invoke invokes the function with the given logical id with event (bytes
// or json.RawMessage as they are, anything else as JSON) and returns its
// result. The test fails if the function does.
func (s *Stack) Invoke(t testing.TB, logicalID string, event any) []byte {
	t.Helper()
	out, err := s.TryInvoke(logicalID, event)
	if err != nil {
		t.Fatalf("stacktest: invoke %s: %v", logicalID, err)
	}
	return out
}

// TryInvoke is Invoke for a test that expects the function may fail.
func (s *Stack) TryInvoke(logicalID string, event any) ([]byte, error) {
	fn, ok := s.fns[logicalID]
	if !ok {
		return nil, fmt.Errorf("no function %q", logicalID)
	}
	payload, err := encode(event)
	if err != nil {
		return nil, err
	}
	if payload == nil {
		payload = []byte("{}")
	}
	return fn.Invoke(context.Background(), payload)
}

// A File is a request body that is not JSON: Do sends Data as it is, with
// ContentType.
type File struct {
	ContentType string
	Data        []byte
}

// Do sends a request to the gateway: path is relative to URL, token (if
// any) goes in an Authorization: Bearer header, and body is sent as is if
// it is []byte, string, json.RawMessage or a File, as JSON otherwise, and
// not at all if nil.
func (s *Stack) Do(t testing.TB, method, path, token string, body any) (status int, respBody []byte, header http.Header) {
	t.Helper()
	payload, err := encode(body)
	if err != nil {
		t.Fatalf("stacktest: %s %s: %v", method, path, err)
	}
	var r io.Reader
	if payload != nil {
		r = bytes.NewReader(payload)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		t.Fatalf("stacktest: %s %s: %v", method, path, err)
	}
	if f, ok := body.(File); ok {
		req.Header.Set("Content-Type", f.ContentType)
	} else if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("stacktest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	respBody, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("stacktest: %s %s: %v", method, path, err)
	}
	CheckResponse(t, method, path, resp.StatusCode, resp.Header, respBody)
	return resp.StatusCode, respBody, resp.Header
}

// DoJSON is Do that decodes the response body into out (unless out is nil
// or the body empty) and returns the status.
func (s *Stack) DoJSON(t testing.TB, method, path, token string, body, out any) int {
	t.Helper()
	status, respBody, _ := s.Do(t, method, path, token, body)
	if out != nil && len(bytes.TrimSpace(respBody)) > 0 {
		if err := json.Unmarshal(respBody, out); err != nil {
			t.Fatalf("stacktest: %s %s: %d %s: %v", method, path, status, respBody, err)
		}
	}
	return status
}

func encode(v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return v, nil
	case json.RawMessage:
		return v, nil
	case File:
		return v.Data, nil
	case string:
		return []byte(v), nil
	}
	return json.Marshal(v)
}

var mobiles struct {
	once sync.Once
	next atomic.Int64
}

// Mobile returns a valid mainland mobile ("139" and 8 digits) that no other
// call in this process returns, so each test reads only its own SMS. The
// sequence starts at random, for test binaries that share a moto server.
func Mobile() string {
	mobiles.once.Do(func() {
		n, err := rand.Int(rand.Reader, big.NewInt(90_000_000))
		if err == nil {
			mobiles.next.Store(n.Int64())
		}
	})
	return fmt.Sprintf("139%08d", mobiles.next.Add(1)%100_000_000)
}

// Mobile is the package function Mobile, for convenience.
func (s *Stack) Mobile() string { return Mobile() }

// A Clock is a settable clock for WithClock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set stops the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// prefix returns a name prefix unique to one New: readable in moto's
// listings, short enough for any table name.
func prefix(testName string) string {
	var b strings.Builder
	for _, r := range testName {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= 40 {
			break
		}
	}
	name := strings.Trim(b.String(), "-")
	if name == "" {
		name = "t"
	}
	return name + "-" + strings.ToLower(rand.Text()[:6]) + "-"
}

// environment is what every test of the binary shares.
type environment struct {
	endpoint string
	template *template.Template
	// recorder notes every function's AWS calls for infra/iamcheck when
	// $WORKBENCH_AWS_CALLS names a directory (make test sets it).
	recorder *awscalls.Recorder
}

var (
	sharedOnce sync.Once
	sharedEnv  environment
	sharedErr  error
)

func shared() (environment, error) {
	sharedOnce.Do(func() {
		sharedEnv, sharedErr = setUp()
	})
	return sharedEnv, sharedErr
}

func setUp() (environment, error) {
	localstack.UseLocalCredentials()
	root, err := moduleRoot()
	if err != nil {
		return environment{}, err
	}
	tmpl, err := template.ParseFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		return environment{}, err
	}
	env := environment{template: tmpl, recorder: awscalls.FromEnv()}
	if e := os.Getenv("WORKBENCH_MOTO_ENDPOINT"); e != "" {
		env.endpoint = strings.TrimSuffix(e, "/")
		return env, nil
	}
	// The server is never stopped: it exits by itself when the test binary
	// does.
	srv, err := moto.Start(context.Background(), moto.Options{Dir: root, Log: os.Stderr})
	if err != nil {
		return environment{}, err
	}
	env.endpoint = srv.Endpoint
	return env, nil
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
