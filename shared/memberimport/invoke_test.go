package memberimport_test

import (
	"encoding/json"
	"testing"

	"workbench/infra/stacktest"
	"workbench/shared/memberimport"
)

// TestJobsHandOverThroughLambda uses the trigger the functions use in AWS:
// the import route invokes the job function asynchronously, and a run of 2
// rows invokes it again to go on. The local stack has no Lambda service, so
// those invokes fail (and are recorded, for infra/iamcheck); the test
// delivers each invocation itself, and the job resumes from its cursor.
func TestJobsHandOverThroughLambda(t *testing.T) {
	invoke := map[string]string{"MEMBER_IMPORT_TRIGGER": "invoke", "MEMBER_IMPORT_ROWS_PER_RUN": "2"}
	st := stacktest.New(t, stacktest.WithFunctionEnv("MemberImportsFunction", invoke), stacktest.WithFunctionEnv("MemberImportJobFunction", invoke))
	tn := st.NewTenant(t)
	code, body := upload(t, st, tn.Admin.Token, "", "text/csv", []byte(csvOf("姓名,手机号", 5, 13300000000, "")))
	if code != 202 {
		t.Fatalf("upload = %d %s", code, body)
	}
	var job struct{ ID string }
	if err := json.Unmarshal(body, &job); err != nil {
		t.Fatalf("upload answered %s: %v", body, err)
	}
	ev := memberimport.Event{TenantID: tn.ID, JobID: job.ID}
	runs := 0
	for s := (status{}); s.State != memberimport.StateDone; {
		if runs++; runs > 5 {
			t.Fatalf("not done after %d invocations: %+v", runs-1, s)
		}
		// A run that hands over fails to invoke the next one here.
		_, _ = st.TryInvoke("MemberImportJobFunction", ev)
		r := st.Call(t, "GET", "/v1/admin/member-imports/"+job.ID, tn.Admin.Token, nil)
		stacktest.Want(t, r, 200)
		r.Decode(t, &s)
		if s.Created != s.Processed || s.Processed != min(2*runs, 5) {
			t.Fatalf("after invocation %d: %+v", runs, s)
		}
	}
	if runs != 3 {
		t.Errorf("%d invocations for 5 rows at 2 a run", runs)
	}
}
