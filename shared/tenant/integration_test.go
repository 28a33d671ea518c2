package tenant_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/stacktest"
)

const operator = "local-operator-key" // the local stack's operator key

type errorBody struct {
	Error struct{ Code, Message, Field string }
}

type created struct {
	Tenant struct{ ID, Code, Name, LoginURL string }
	Admin  struct {
		ID, Name, Mobile, Account, Role string
		Enabled                         bool
	}
	AdminNotified bool
}

func createTenant(t *testing.T, s *stacktest.Stack, key string, body any) (int, []byte) {
	t.Helper()
	status, resp, header := s.Do(t, "POST", "/v1/platform/tenants", key, body)
	if header.Get("X-Request-Id") == "" {
		t.Errorf("response without X-Request-Id")
	}
	return status, resp
}

func TestCreateTenantSendsAdminSMSAndIsReadable(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t)
	mobile := s.Mobile()
	status, body := createTenant(t, s, operator, map[string]any{
		"code": "acme", "name": "Acme 制造", "admin": map[string]any{"name": "张三", "mobile": mobile},
	})
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	var c created
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if c.Tenant.Code != "acme" || c.Tenant.ID == "" || !strings.Contains(c.Tenant.LoginURL, "acme") {
		t.Errorf("tenant %+v", c.Tenant)
	}
	if c.Admin.Name != "张三" || c.Admin.Account != "zhangsan" || c.Admin.Role != "admin" || !c.Admin.Enabled || c.Admin.Mobile != mobile || !c.AdminNotified {
		t.Errorf("admin %+v notified=%v", c.Admin, c.AdminNotified)
	}

	msgs := s.SMS(t, mobile)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, c.Tenant.LoginURL) || !strings.Contains(msgs[0].Text, "zhangsan") {
		t.Fatalf("admin SMS: %+v", msgs)
	}

	status, body, _ = s.Do(t, "GET", "/v1/platform/tenants/acme", operator, nil)
	var got struct{ ID, Code, Name, LoginURL string }
	if status != 200 || json.Unmarshal(body, &got) != nil || got.ID != c.Tenant.ID || got.Name != "Acme 制造" || got.LoginURL != c.Tenant.LoginURL {
		t.Fatalf("get: %d %s", status, body)
	}
	if status, _, _ := s.Do(t, "GET", "/v1/platform/tenants/nosuch", operator, nil); status != 404 {
		t.Errorf("unknown tenant: %d", status)
	}
}

func TestCreateTenantRejects(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t)
	good := func() map[string]any {
		return map[string]any{"code": "good-co", "name": "Good", "admin": map[string]any{"name": "李四", "mobile": s.Mobile()}}
	}
	tests := []struct {
		name   string
		key    string
		body   any
		status int
		code   string
		field  string
	}{
		{"no key", "", good(), 401, "invalid_operator_key", ""},
		{"wrong key", "not-the-key", good(), 401, "invalid_operator_key", ""},
		{"short code", operator, with(good(), "code", "ab"), 400, "invalid_code", "code"},
		{"upper-case code", operator, with(good(), "code", "Acme"), 400, "invalid_code", "code"},
		{"bad char in code", operator, with(good(), "code", "ac_me!"), 400, "invalid_code", "code"},
		{"empty name", operator, with(good(), "name", " "), 400, "invalid_name", "name"},
		{"emoji admin name", operator, withAdmin(good(), "name", "张三😀"), 400, "invalid_name", "admin.name"},
		{"long admin name", operator, withAdmin(good(), "name", strings.Repeat("王", 21)), 400, "invalid_name", "admin.name"},
		{"short mobile", operator, withAdmin(good(), "mobile", "1380013800"), 400, "invalid_mobile", "admin.mobile"},
		{"letters in mobile", operator, withAdmin(good(), "mobile", "1380013800x"), 400, "invalid_mobile", "admin.mobile"},
		{"unknown field", operator, with(good(), "plan", "gold"), 400, "unknown_field", "plan"},
		{"wrong type", operator, with(good(), "code", 42), 400, "wrong_type", "code"},
		{"malformed JSON", operator, json.RawMessage(`{"code":`), 400, "malformed_json", ""},
	}
	for _, tt := range tests {
		status, body := createTenant(t, s, tt.key, tt.body)
		var e errorBody
		if status != tt.status || json.Unmarshal(body, &e) != nil || e.Error.Code != tt.code || e.Error.Field != tt.field {
			t.Errorf("%s: %d %s; want %d %s field %q", tt.name, status, body, tt.status, tt.code, tt.field)
		}
	}
	// Nothing of the refused requests was written.
	assertTableEmpty(t, s, "TenantsTable")
	assertTableEmpty(t, s, "DirectoryTable")
}

func TestDuplicateCodeIsConflictUnderConcurrency(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t)
	const n = 6
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _ = createTenant(t, s, operator, map[string]any{
				"code": "dup-co", "name": "Dup", "admin": map[string]any{"name": "王五", "mobile": s.Mobile()},
			})
		}()
	}
	wg.Wait()
	wins := 0
	for _, st := range statuses {
		switch st {
		case 201:
			wins++
		case 409:
		default:
			t.Errorf("status %d", st)
		}
	}
	if wins != 1 {
		t.Fatalf("%d creations won, want exactly 1 (%v)", wins, statuses)
	}
	status, body := createTenant(t, s, operator, map[string]any{
		"code": "dup-co", "name": "Dup", "admin": map[string]any{"name": "王五", "mobile": s.Mobile()},
	})
	var e errorBody
	if status != 409 || json.Unmarshal(body, &e) != nil || e.Error.Code != "tenant_code_taken" {
		t.Fatalf("duplicate: %d %s", status, body)
	}
	// Exactly one admin member exists: the losers left nothing behind.
	out, err := s.DynamoDB().Scan(context.Background(), &dynamodb.ScanInput{
		TableName:                 aws.String(s.Tables["DirectoryTable"]),
		FilterExpression:          aws.String("#t = :m"),
		ExpressionAttributeNames:  map[string]string{"#t": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":m": &types.AttributeValueMemberS{Value: "member"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 1 {
		t.Fatalf("%d member items, want 1", len(out.Items))
	}
}

func TestPersonalDataIsNotStoredInPlaintext(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t)
	mobile := s.Mobile()
	if status, body := createTenant(t, s, operator, map[string]any{
		"code": "secret-co", "name": "Secret", "admin": map[string]any{"name": "赵六", "mobile": mobile},
	}); status != 201 {
		t.Fatalf("%d %s", status, body)
	}
	for _, table := range []string{"TenantsTable", "DirectoryTable"} {
		dump := dumpTable(t, s, table)
		for _, secret := range []string{"赵六", mobile, mobile[len(mobile)-4:] + `"`} {
			if strings.Contains(dump, secret) {
				t.Errorf("%s holds %q in plaintext", table, secret)
			}
		}
	}
}

func with(m map[string]any, k string, v any) map[string]any { m[k] = v; return m }

func withAdmin(m map[string]any, k string, v any) map[string]any {
	m["admin"].(map[string]any)[k] = v
	return m
}

// dumpTable returns every item of a table as JSON text, as a backup or a
// leaked dump would show it.
func dumpTable(t *testing.T, s *stacktest.Stack, table string) string {
	t.Helper()
	out, err := s.DynamoDB().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(s.Tables[table])})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, item := range out.Items {
		var m map[string]any
		if err := attributevalue.UnmarshalMap(item, &m); err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(m)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func assertTableEmpty(t *testing.T, s *stacktest.Stack, table string) {
	t.Helper()
	if dump := dumpTable(t, s, table); dump != "" {
		t.Errorf("%s is not empty:\n%s", table, dump)
	}
}
