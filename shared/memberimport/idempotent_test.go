package memberimport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/xuri/excelize/v2"

	"workbench/infra/stacktest"
)

// jobs counts the tenant's import jobs in the imports table.
func jobs(t *testing.T, st *stacktest.Stack, tenantID string) int {
	t.Helper()
	out, err := st.DynamoDB().Query(context.Background(), &dynamodb.QueryInput{
		TableName:              aws.String(st.Tables["MemberImportsTable"]),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :job)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: "T#" + tenantID}, ":job": &types.AttributeValueMemberS{Value: "JOB#"},
		},
		ProjectionExpression: aws.String("sk"),
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, it := range out.Items {
		if strings.Count(it["sk"].(*types.AttributeValueMemberS).Value, "#") == 1 { // JOB#<id>, not its rows or failures
			n++
		}
	}
	return n
}

type auditEntry struct {
	Action, Target string
	Fields         []string
	Summary        map[string]string
}

func importEntries(t *testing.T, st *stacktest.Stack, token string) []auditEntry {
	t.Helper()
	r := st.Call(t, "GET", "/v1/admin/audit-log?action=member.import", token, nil)
	stacktest.Want(t, r, 200)
	var page struct{ Items []auditEntry }
	r.Decode(t, &page)
	return page.Items
}

// TestImportIdempotencyKey: a retried upload with the same key answers the
// first 202 with the same job and queues nothing; the key with another file
// or another query is 422; and the one job is audited once.
func TestImportIdempotencyKey(t *testing.T) {
	st := newStack(t)
	tn := st.NewTenant(t)
	tok := tn.Admin.Token
	file := []byte("姓名,手机号,部门\n张一,13600000001,总装车间/一班\n张二,13600000002,质检部\n")
	key := map[string]string{"Idempotency-Key": "import-3f1c"}
	code, first, h := uploadWith(t, st, tok, "?createDepartments=true", "text/csv", file, key)
	if code != 202 || h.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first upload = %d %s %v", code, first, h)
	}
	var job struct{ ID string }
	if err := json.Unmarshal(first, &job); err != nil || job.ID == "" {
		t.Fatalf("first upload answered %s", first)
	}
	code, again, h := uploadWith(t, st, tok, "?createDepartments=true", "text/csv", file, key)
	if code != 202 || !bytes.Equal(again, first) || h.Get("Idempotent-Replayed") != "true" || h.Get("Location") != "/v1/admin/member-imports/"+job.ID {
		t.Fatalf("retry = %d %s %v; want the first 202 replayed", code, again, h)
	}
	for name, tc := range map[string]struct {
		query string
		file  []byte
	}{
		"another file":  {"?createDepartments=true", append(bytes.Clone(file), "张三,13600000003,质检部\n"...)},
		"another query": {"?createDepartments=false", file},
	} {
		code, out, _ := uploadWith(t, st, tok, tc.query, "text/csv", tc.file, key)
		if code != 422 || !strings.Contains(string(out), "idempotency_key_reused") {
			t.Errorf("%s with the same key = %d %s; want 422 idempotency_key_reused", name, code, out)
		}
	}
	if n := jobs(t, st, tn.ID); n != 1 {
		t.Fatalf("%d jobs after a retried upload, want 1", n)
	}
	entries := importEntries(t, st, tok)
	if len(entries) != 1 || entries[0].Target != "member_import/"+job.ID {
		t.Fatalf("import entries %+v; want one for job %s", entries, job.ID)
	}
	// Without a key, each upload is a new job (and a new entry).
	code, out, _ := uploadWith(t, st, tok, "?createDepartments=true", "text/csv", file, nil)
	if code != 202 || bytes.Equal(out, first) || jobs(t, st, tn.ID) != 2 {
		t.Fatalf("upload without a key = %d %s, %d jobs", code, out, jobs(t, st, tn.ID))
	}
	// The job itself runs as ever.
	run(t, st, tn.ID, job.ID)
	if s := follow(t, st, tok, job.ID); s.State != "done" || s.Created != 2 {
		t.Fatalf("the job: %+v", s)
	}
}

// TestImportIsAudited: an upload writes one member.import entry with the
// job: the columns as fields and a summary of format, rows and options,
// never a name or a mobile; a refused upload writes none; the chain holds.
func TestImportIsAudited(t *testing.T) {
	st := newStack(t)
	tn := st.NewTenant(t)
	tok := tn.Admin.Token
	csvID := start(t, st, tn.ID, tok, "?createDepartments=true&welcomeSms=true",
		"姓名,手机号,部门,职位\n张一,13600000011,总装车间,组长\n张二,13600000012,总装车间,\n,,,\n张三,13600000013,质检部,\n")

	x := excelize.NewFile()
	for cell, v := range map[string]string{"A1": "name", "B1": "mobile", "A2": "李一", "B2": "13600000021"} {
		if err := x.SetCellValue("Sheet1", cell, v); err != nil {
			t.Fatal(err)
		}
	}
	var book bytes.Buffer
	if err := x.Write(&book); err != nil {
		t.Fatal(err)
	}
	code, out := upload(t, st, tok, "?mode=create-only", "application/octet-stream", book.Bytes())
	if code != 202 {
		t.Fatalf("xlsx upload = %d %s", code, out)
	}
	var xlsx struct{ ID string }
	if err := json.Unmarshal(out, &xlsx); err != nil {
		t.Fatal(err)
	}
	// Refused: nothing is stored, nothing audited.
	if code, _ := upload(t, st, tok, "?mode=sideways", "text/csv", []byte("姓名,手机号\n王五,13600000031\n")); code != 400 {
		t.Fatalf("bad mode = %d", code)
	}

	got := importEntries(t, st, tok)
	want := []auditEntry{
		{Action: "member.import", Target: "member_import/" + xlsx.ID, Fields: []string{"mobile", "name"},
			Summary: map[string]string{"format": "xlsx", "rows": "1", "mode": "create-only", "createDepartments": "false", "welcomeSms": "false"}},
		{Action: "member.import", Target: "member_import/" + csvID, Fields: []string{"departments", "mobile", "name", "position"},
			Summary: map[string]string{"format": "csv", "rows": "3", "mode": "upsert", "createDepartments": "true", "welcomeSms": "true"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("import entries\n%+v\nwant\n%+v", got, want)
	}
	raw := st.Call(t, "GET", "/v1/admin/audit-log?action=member.import", tok, nil).Body
	for _, personal := range []string{"张一", "13600000011", "李一", "13600000021", "总装车间"} {
		if bytes.Contains(raw, []byte(personal)) {
			t.Errorf("the audit log holds %q: %s", personal, raw)
		}
	}
	r := st.Call(t, "GET", "/v1/admin/audit-log/verify", tok, nil)
	stacktest.Want(t, r, 200)
	var rep struct {
		OK       bool
		BrokenAt int64
		Reason   string
	}
	if r.Decode(t, &rep); !rep.OK {
		t.Fatalf("chain check: %s", r.Body)
	}
	// The summary is in the entry's hash: a changed row count shows.
	db, table := st.DynamoDB(), st.Tables["AuditTable"]
	key := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "T#" + tn.ID}, "sk": &types.AttributeValueMemberS{Value: "E#000000000001"},
	}
	item, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &table, Key: key})
	if err != nil || item.Item == nil {
		t.Fatalf("entry 1: %v", err)
	}
	item.Item["summary"].(*types.AttributeValueMemberM).Value["rows"] = &types.AttributeValueMemberS{Value: "30"}
	if _, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &table, Item: item.Item}); err != nil {
		t.Fatal(err)
	}
	r = st.Call(t, "GET", "/v1/admin/audit-log/verify", tok, nil)
	if r.Decode(t, &rep); rep.OK || rep.BrokenAt != 1 || rep.Reason != "entry_altered" {
		t.Fatalf("chain check after the summary changed: %s", r.Body)
	}
}
