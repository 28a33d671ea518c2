package memberimport_test

import (
	"context"
	"testing"

	"workbench/infra/stacktest"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/memberimport"
)

// TestStaleReadAheadIsReadAgain changes the directory after a run's page
// lookups and before its rows are written: the field definitions the run
// read at its start, or the account its lookup found free. Each row ends
// as a fresh read would have it (as POST /v1/admin/members would), at the
// cost of that one read again (a third BatchGetItem after the page's two).
func TestStaleReadAheadIsReadAgain(t *testing.T) {
	st := stacktest.New(t)
	ctx := context.Background()
	levels := func(opts ...string) []map[string]any {
		return []map[string]any{{"code": "level", "name": "职级", "type": "single", "options": opts}}
	}
	cases := []struct {
		name   string
		before []map[string]any // field definitions when the run starts
		header string
		row    string
		// change is made after the page's lookups, before the row is written.
		change       func(t *testing.T, tn stacktest.Tenant)
		created      int
		fail         string // the row's failure code, if it fails
		account      string // the created member's account, if checked
		batchGets    int
		transactions int
	}{{
		name:   "an option added: the read-ahead definitions refuse the row, fresh ones take it",
		before: levels("P5"), header: "姓名,手机号,职级", row: "张一,13700000001,P6",
		change: func(t *testing.T, tn stacktest.Tenant) {
			stacktest.Want(t, st.Call(t, "PUT", "/v1/admin/directory-fields", tn.Admin.Token, levels("P5", "P6")), 200)
		},
		created: 1, batchGets: 3, transactions: 1,
	}, {
		name:   "an option removed: the read-ahead definitions take the row, the write's version check sends it to a fresh read that refuses it",
		before: levels("P5", "P6"), header: "姓名,手机号,职级", row: "张二,13700000002,P6",
		change: func(t *testing.T, tn stacktest.Tenant) {
			stacktest.Want(t, st.Call(t, "PUT", "/v1/admin/directory-fields", tn.Admin.Token, levels("P5")), 200)
		},
		fail: "invalid_field_value", batchGets: 3, transactions: 1,
	}, {
		name:   "the generated account taken: the next candidate, as a fresh read finds it",
		header: "姓名,手机号", row: "张三,13700000003",
		change: func(t *testing.T, tn stacktest.Tenant) {
			stacktest.Want(t, st.Call(t, "POST", "/v1/admin/members", tn.Admin.Token,
				map[string]any{"name": "张三", "mobile": "13700009999", "account": directory.AccountFromName("张三")}), 201)
		},
		created: 1, account: directory.AccountFromName("张三") + "2", batchGets: 3, transactions: 2,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn := st.NewTenant(t)
			if c.before != nil {
				stacktest.Want(t, st.Call(t, "PUT", "/v1/admin/directory-fields", tn.Admin.Token, c.before), 200)
			}
			db := &jobDB{}
			r := runner(t, st, db, &sentSMS{})
			svc := &memberimport.Service{Store: r.Store, Directory: r.Directory, Trigger: noTrigger{}, Now: r.Now}
			j, err := svc.Start(ctx, tn.ID, tn.Code, tn.Admin.ID, []byte(c.header+"\n"+c.row+"\n"), memberimport.Options{})
			if err != nil {
				t.Fatal(err)
			}
			counter := &dynamo.Counter{}
			db.Client = st.DynamoDB(dynamo.WithCounter(counter))
			db.afterBatchGet = func(n int) {
				if n == 2 { // the page's lookups of mobiles and of accounts are done
					c.change(t, tn)
				}
			}
			if err := r.Run(ctx, tn.ID, j.ID); err != nil {
				t.Fatal(err)
			}
			// The change's own calls went through the API's client, not db.
			if got := counter.Calls("BatchGetItem"); got != c.batchGets {
				t.Errorf("BatchGetItem calls = %d, want %d", got, c.batchGets)
			}
			if got := counter.Calls("TransactWriteItems"); got != c.transactions {
				t.Errorf("TransactWriteItems calls = %d, want %d", got, c.transactions)
			}
			out, _ := r.Store.Get(ctx, tn.ID, j.ID)
			failures, err := r.Store.Failures(ctx, tn.ID, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if out.State != memberimport.StateDone || out.Created != c.created || out.Failed != len(failures) {
				t.Fatalf("job %+v, failures %+v", out, failures)
			}
			if c.fail != "" && (len(failures) != 1 || failures[0].Code != c.fail) {
				t.Errorf("failures %+v, want %s", failures, c.fail)
			}
			if c.account != "" {
				held, err := r.Directory.Holders(ctx, tn.ID, directory.UniqueMobile, []string{"13700000003"})
				if err != nil {
					t.Fatal(err)
				}
				m, err := r.Directory.Member(ctx, tn.ID, held["13700000003"])
				if err != nil || m.Account != c.account {
					t.Errorf("member %+v (%v), want account %s", m, err, c.account)
				}
			}
		})
	}
}
