package partner_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/stacktest"
	"workbench/shared/auth"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/httpapi"
	"workbench/shared/ids"
	"workbench/shared/keyring"
	"workbench/shared/partner"
	"workbench/shared/tenant"
)

// The tests run against a moto server of their own (the emulator the
// local stack uses), started once per test binary.
var motoURL string

func TestMain(m *testing.M) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	python := "python3"
	if v := os.Getenv("PYTHON"); v != "" {
		python = v
	}
	for _, p := range []string{"../../.local/venv/bin/python"} {
		if _, err := os.Stat(p); err == nil {
			python = p
		}
	}
	cmd := exec.Command(python, "-m", "moto.server", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		panic("start moto (make deps): " + err.Error())
	}
	motoURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if resp, err := http.Get(motoURL + "/moto-api/"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 200 {
			_ = cmd.Process.Kill() // it may have exited: that is why it did not start
			panic("moto did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	code := m.Run()
	_ = cmd.Process.Kill() // the tests are done; moto's exit status says nothing of them
	_ = cmd.Wait()
	os.Exit(code)
}

// clock is a settable clock shared by the service, the worker and the
// test partner.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// world is one test's platform: its own tables, a tenant with an admin,
// the partner API over HTTP and a real TLS partner.
type world struct {
	t        testing.TB
	db       *dynamodb.Client
	counter  *dynamo.Counter
	clock    *clock
	keys     *keyring.Keyring
	codec    *directory.Codec
	tables   map[string]string
	svc      *partner.Service
	worker   *partner.Worker
	api      *httptest.Server
	operator string
	mkey     string
	partner  *testPartner
	tenants  map[string]tenant.Tenant // by code
}

const partnerHost = "partner.example.com"

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, clock: &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}, counter: &dynamo.Counter{}, tenants: map[string]tenant.Tenant{}}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"), config.WithBaseEndpoint(motoURL),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		t.Fatal(err)
	}
	w.db = dynamodb.NewFromConfig(cfg, dynamo.WithCounter(w.counter))
	prefix := strings.ToLower(ids.New(time.Now()))
	w.tables = map[string]string{}
	for _, name := range []string{"partners", "directory", "tenants", "audit"} {
		w.tables[name] = prefix + "-" + name
		w.createTable(w.tables[name], name != "tenants" && name != "audit")
	}
	w.keys, err = keyring.Parse(`{"active":"k1","k1":"0123456789abcdef0123456789abcdef-test"}`)
	if err != nil {
		t.Fatal(err)
	}
	index, _ := keyring.NewIndex("index-key-0123456789abcdef0123456789")
	w.codec = &directory.Codec{Table: w.tables["directory"], Keys: w.keys, Index: index}

	w.partner = newTestPartner(t, w.clock.Now)
	client, err := partner.NewClient(partner.Outbound{
		ExtraCA: w.partner.caPEM,
		Resolve: map[string]string{partnerHost + ":443": w.partner.srv.Listener.Addr().String()},
		Timeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	store := &partner.DynamoStore{DB: w.db, Table: w.tables["partners"]}
	w.worker = &partner.Worker{Store: store, Keys: w.keys, Client: client, Now: w.clock.Now,
		Jitter: func(d time.Duration) time.Duration { return d }}
	w.svc = &partner.Service{
		Store: store, Directory: &partner.RosterDirectory{Roster: &directory.Roster{DB: w.db, Table: w.codec.Table, Codec: w.codec}},
		Tenants: &tenant.DynamoStore{DB: w.db, Table: w.tables["tenants"], Directory: w.codec},
		Keys:    w.keys, LoginURL: "https://{tenant}.workbench.example.com/login", Now: w.clock.Now,
	}
	w.operator = "operator-key-for-tests"
	w.mkey = "marketplace-key-for-tests"
	r := httpapi.NewRouter()
	(&partner.HTTP{
		Service: w.svc, Operator: auth.NewOperator(w.operator), Admins: testGuard{},
		Marketplace: &partner.Verifier{Key: w.mkey, Nonces: store, Now: w.clock.Now},
	}).Register(r)
	w.api = httptest.NewServer(httpapi.Serve(r))
	t.Cleanup(w.api.Close)
	return w
}

func (w *world) createTable(name string, gsi bool) {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
	}
	if gsi {
		in.AttributeDefinitions = append(in.AttributeDefinitions,
			types.AttributeDefinition{AttributeName: aws.String("gsi1pk"), AttributeType: types.ScalarAttributeTypeS},
			types.AttributeDefinition{AttributeName: aws.String("gsi1sk"), AttributeType: types.ScalarAttributeTypeS})
		in.GlobalSecondaryIndexes = []types.GlobalSecondaryIndex{{
			IndexName: aws.String("gsi1"),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("gsi1pk"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("gsi1sk"), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}}
	}
	// The SDK retries a create whose answer got lost under load; the table
	// is then there already.
	var inUse *types.ResourceInUseException
	if _, err := w.db.CreateTable(context.Background(), in); err != nil && !errors.As(err, &inUse) {
		w.t.Fatal(err)
	}
}

// testGuard stands in for auth.Members: the tenant comes from test
// headers. Member authentication itself is auth's and is tested there.
type testGuard struct{}

func (testGuard) RequireAdmin(h httpapi.HandlerFunc) httpapi.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) error {
		p := auth.Principal{TenantID: r.Header.Get("X-Test-Tenant"), TenantCode: r.Header.Get("X-Test-Code"), MemberID: "admin", Role: "admin"}
		if p.TenantID == "" {
			return fmt.Errorf("test: no tenant header")
		}
		return h(rw, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	}
}

// do calls the API; token is "operator", "partner:<key>", "admin:<code>"
// or "".
func (w *world) do(method, path, token string, body any) (int, map[string]any) {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, w.api.URL+path, rd)
	switch {
	case token == "operator":
		req.Header.Set("Authorization", "Bearer "+w.operator)
	case strings.HasPrefix(token, "partner:"):
		req.Header.Set("Authorization", "Bearer "+strings.TrimPrefix(token, "partner:"))
	case strings.HasPrefix(token, "admin:"):
		tn := w.tenants[strings.TrimPrefix(token, "admin:")]
		req.Header.Set("X-Test-Tenant", tn.ID)
		req.Header.Set("X-Test-Code", tn.Code)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	stacktest.CheckResponse(w.t, method, path, resp.StatusCode, resp.Header, raw)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			w.t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

func (w *world) mustDo(want int, method, path, token string, body any) map[string]any {
	w.t.Helper()
	code, out := w.do(method, path, token, body)
	if code != want {
		w.t.Fatalf("%s %s = %d %v, want %d", method, path, code, out, want)
	}
	return out
}

// newTenant creates a tenant (with its admin member) through the tenant
// store, as the operator API does.
func (w *world) newTenant(code string) tenant.Tenant {
	w.t.Helper()
	now := w.clock.Now()
	tn := tenant.Tenant{ID: ids.New(now), Code: code, Name: "企业" + code, CreatedAt: now}
	admin := directory.Member{ID: ids.New(now), TenantID: tn.ID, Name: "管理员", Mobile: "13800000000", Account: "admin",
		Role: directory.RoleAdmin, Enabled: true, DepartmentIDs: []string{}, Fields: map[string]any{}, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := (&tenant.DynamoStore{DB: w.db, Table: w.tables["tenants"], Directory: w.codec}).Create(context.Background(), tn, admin); err != nil {
		w.t.Fatal(err)
	}
	w.tenants[code] = tn
	return tn
}

// seed writes departments and members into the directory table, 25 per
// BatchWriteItem, as the directory capability stores them.
func (w *world) seed(tenantID string, depts []partner.Department, members []directory.Member) {
	w.t.Helper()
	var items []map[string]types.AttributeValue
	for _, d := range depts {
		item, err := w.codec.DepartmentItem(directory.Department{ID: d.ID, TenantID: tenantID, Name: d.Name, ParentID: d.ParentID, Version: 1})
		if err != nil {
			w.t.Fatal(err)
		}
		items = append(items, item)
	}
	for _, m := range members {
		its, err := w.codec.SeedItems(m)
		if err != nil {
			w.t.Fatal(err)
		}
		items = append(items, its...)
	}
	for len(items) > 0 {
		n := min(len(items), dynamo.MaxBatchWrite)
		var reqs []types.WriteRequest
		for _, it := range items[:n] {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
		}
		if _, err := w.db.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{w.tables["directory"]: reqs},
		}); err != nil {
			w.t.Fatal(err)
		}
		items = items[n:]
	}
}

// seedMembersOnly writes just the member items (no reservations or search
// tokens): what the partner side reads, for large benchmark seeds.
func (w *world) seedMembersOnly(members []directory.Member) {
	w.t.Helper()
	var reqs []types.WriteRequest
	flush := func() {
		if len(reqs) == 0 {
			return
		}
		if _, err := w.db.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{w.tables["directory"]: reqs},
		}); err != nil {
			w.t.Fatal(err)
		}
		reqs = nil
	}
	for _, m := range members {
		it, err := w.codec.Item(m)
		if err != nil {
			w.t.Fatal(err)
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
		if len(reqs) == dynamo.MaxBatchWrite {
			flush()
		}
	}
	flush()
}

func member(tenantID, id, name, account string, depts ...string) directory.Member {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	return directory.Member{ID: id, TenantID: tenantID, Name: name, Mobile: "139" + fmt.Sprintf("%08d", fnv32(id)%100000000),
		Account: account, Role: directory.RoleMember, Enabled: true, DepartmentIDs: depts, Position: "engineer",
		EmployeeNo: "E-" + account, Fields: map[string]any{}, CreatedAt: now, UpdatedAt: now, Version: 1}
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// setupApp creates a partner and registers an app at the test partner.
func (w *world) setupApp() (appID string) {
	w.t.Helper()
	p := w.mustDo(201, "POST", "/v1/platform/partners", "operator", map[string]any{"name": "ISV 一号"})
	w.partner.setAccessKey(p["accessKey"].(string))
	a := w.mustDo(201, "POST", "/v1/partner/apps", "partner:"+p["partnerKey"].(string), map[string]any{
		"name": "考勤", "productionUrl": "https://" + partnerHost + "/isv", "publicKey": w.partner.publicPEM,
	})
	return a["appId"].(string)
}

func (w *world) sweep() partner.Stats {
	w.t.Helper()
	st, err := w.worker.Sweep(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return st
}

// testPartner is a real HTTPS partner: it verifies each signature with the
// protocol's algorithm, rejects stale or replayed calls, decrypts the
// client secret with its private key, records calls, and fails or hangs
// on request.
type testPartner struct {
	t         testing.TB
	srv       *httptest.Server
	caPEM     string
	key       *rsa.PrivateKey
	publicPEM string
	now       func() time.Time

	mu        sync.Mutex
	accessKey string
	calls     []received
	nonces    map[string]bool
	failN     int
	failCode  string
	hang      time.Duration
	hits      atomic.Int64
}

type received struct {
	Path   string
	Kind   string
	Body   map[string]any
	Raw    []byte
	Secret string // decrypted clientSecret of applicationSync
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func partnerKey() *rsa.PrivateKey {
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 3072)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

func newTestPartner(t testing.TB, now func() time.Time) *testPartner {
	p := &testPartner{t: t, key: partnerKey(), now: now, nonces: map[string]bool{}}
	der, _ := x509.MarshalPKIXPublicKey(&p.key.PublicKey)
	p.publicPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	p.srv = httptest.NewTLSServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	p.caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw}))
	return p
}

func (p *testPartner) setAccessKey(k string) {
	p.mu.Lock()
	p.accessKey = k
	p.mu.Unlock()
}

// failNext makes the next n calls answer with resultCode code (or HTTP 503
// when code is "").
func (p *testPartner) failNext(n int, code string) {
	p.mu.Lock()
	p.failN, p.failCode = n, code
	p.mu.Unlock()
}

func (p *testPartner) hangNext(d time.Duration, n int) {
	p.mu.Lock()
	p.hang, p.failN = d, n
	p.mu.Unlock()
}

func (p *testPartner) answer(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"resultCode": code, "resultMsg": msg}) // the status is sent
}

func (p *testPartner) serve(w http.ResponseWriter, r *http.Request) {
	p.hits.Add(1)
	raw, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	// The protocol's check, written out as a partner would.
	ts, nonce, sign := r.Header.Get("x-timestamp"), r.Header.Get("x-nonce"), r.Header.Get("x-sign")
	if want := partner.Sign(p.accessKey, nonce, ts, raw); sign == "" || sign != want || len(nonce) < 16 {
		p.t.Errorf("partner: bad signature on %s", r.URL.Path)
		p.answer(w, 200, "000001", "bad signature")
		return
	}
	ms, _ := strconv.ParseInt(ts, 10, 64) // not a number: 1970, refused below
	if d := p.now().Sub(time.UnixMilli(ms)); d > time.Minute || d < -time.Minute {
		p.t.Errorf("partner: stale timestamp %s", ts)
		p.answer(w, 200, "000001", "stale")
		return
	}
	if p.nonces[nonce] {
		p.t.Errorf("partner: nonce replayed")
		p.answer(w, 200, "000001", "replayed")
		return
	}
	p.nonces[nonce] = true
	if p.failN > 0 {
		p.failN--
		if p.hang > 0 {
			p.mu.Unlock()
			time.Sleep(p.hang)
			p.mu.Lock()
			return
		}
		if p.failCode == "" {
			p.answer(w, 503, "000005", "down for maintenance")
		} else {
			p.answer(w, 200, p.failCode, "try later")
		}
		return
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		p.answer(w, 200, "000002", "bad json")
		return
	}
	rec := received{Path: r.URL.Path, Kind: r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:], Body: body, Raw: raw}
	if rec.Kind == "applicationSync" {
		ct, _ := base64.StdEncoding.DecodeString(body["clientSecret"].(string))
		plain, err := rsa.DecryptOAEP(sha256.New(), nil, p.key, ct, nil)
		if err != nil {
			p.t.Errorf("partner: clientSecret does not decrypt: %v", err)
		}
		rec.Secret = string(plain)
	}
	p.calls = append(p.calls, rec)
	p.answer(w, 200, "000000", "ok")
}

func (p *testPartner) received() []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]received(nil), p.calls...)
}

func kinds(rs []received) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Kind)
	}
	return out
}

// scanDirect is a test-only look at the partners table, to check that
// nothing half-written is left behind.
func (w *world) countItems(prefix string) int {
	w.t.Helper()
	out, err := w.db.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(w.tables["partners"])})
	if err != nil {
		w.t.Fatal(err)
	}
	var items []struct {
		PK string `dynamodbav:"pk"`
	}
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &items); err != nil {
		w.t.Fatal(err)
	}
	n := 0
	for _, it := range items {
		if strings.HasPrefix(it.PK, prefix) {
			n++
		}
	}
	return n
}
