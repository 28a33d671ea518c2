package memberimport_test

import (
	"context"
	"errors"
	"testing"

	"workbench/infra/stacktest"
	"workbench/shared/memberimport"
)

type noTrigger struct{}

func (noTrigger) Start(context.Context, string, string) error { return nil }

// TestRunStoppedMidwayResumesWithoutTwice kills a run right after DynamoDB
// committed a row (the run never learns it did), then lets the job run in
// invocations of 7 rows that hand over to each other: every row is
// imported once, the counts are exact, and a welcome SMS goes only to
// members created by a run that lived to send it.
func TestRunStoppedMidwayResumesWithoutTwice(t *testing.T) {
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	ctx := context.Background()
	sms := &sentSMS{}
	// The 6th transaction: the job's creation (with its audit entry) is the
	// first, then one a row.
	first := runner(t, st, &jobDB{crashAt: 6}, sms)
	svc := &memberimport.Service{Store: first.Store, Directory: first.Directory, Trigger: noTrigger{}, Now: first.Now}
	file := csvOf("姓名,手机号,部门", 25, 13500000000, "") + "坏😀,13500009999,\n"
	j, err := svc.Start(ctx, tn.ID, tn.Code, tn.Admin.ID, []byte(file), memberimport.Options{Welcome: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Run(ctx, tn.ID, j.ID); !errors.Is(err, errLost) {
		t.Fatalf("first run: %v, want the lost connection", err)
	}
	after, _ := first.Store.Get(ctx, tn.ID, j.ID)
	if after.State != memberimport.StateRunning || after.Processed != 5 || after.Created != 5 {
		t.Fatalf("after the crash: %+v", after)
	}

	next := runner(t, st, &jobDB{}, sms)
	next.MaxRows = 7
	if err := next.Run(ctx, tn.ID, j.ID); err != nil {
		t.Fatal(err)
	}
	next.Trigger.(*memberimport.LocalTrigger).Wait()
	done, _ := next.Store.Get(ctx, tn.ID, j.ID)
	if done.State != memberimport.StateDone || done.Processed != 26 || done.Created != 25 || done.Failed != 1 || done.Updated+done.Skipped != 0 {
		t.Fatalf("done: %+v", done)
	}
	if done.Runs < 1+3 {
		t.Errorf("runs = %d, want the crashed one and at least 3 of 7 rows", done.Runs)
	}
	members, _, err := next.Directory.ListMembers(ctx, tn.ID, "", "", 100)
	if err != nil || len(members) != 26 {
		t.Fatalf("members: %d %v, want the admin and 25", len(members), err)
	}
	seen := map[string]int{}
	for _, m := range sms.out {
		seen[m]++
	}
	if len(sms.out) != 24 || len(seen) != 24 {
		t.Errorf("welcome SMS: %d to %d mobiles, want 24 (the crashed row's was never sent)", len(sms.out), len(seen))
	}
	// A finished job is left alone.
	if err := next.Run(ctx, tn.ID, j.ID); err != nil {
		t.Fatal(err)
	}
}
