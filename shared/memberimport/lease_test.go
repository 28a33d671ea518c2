package memberimport_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"workbench/infra/stacktest"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/memberimport"
)

// TestAdvanceCountsOnlyForTheLeaseHolderAtItsCursor moves a job's cursor
// on its own and in a member's transaction (directory.Extra): an advance
// by a runner that does not hold the lease, or from where the cursor is
// not, writes nothing, and takes the member write down with it.
func TestAdvanceCountsOnlyForTheLeaseHolderAtItsCursor(t *testing.T) {
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	ctx := context.Background()
	r := runner(t, st, &jobDB{}, &sentSMS{})
	svc := &memberimport.Service{Store: r.Store, Directory: r.Directory, Trigger: noTrigger{}, Now: r.Now}
	j, err := svc.Start(ctx, tn.ID, tn.Code, tn.Admin.ID, []byte(csvOf("姓名,手机号,部门", 3, 13600000000, "")), memberimport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := r.Store.Claim(ctx, tn.ID, j.ID, "a", now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	advance := func(owner string, p memberimport.Progress) dynamo.Update {
		return r.Store.Advance(tn.ID, j.ID, owner, p, now, now.Add(time.Minute))
	}
	lost := func(err error) bool { return err != nil && errs.As(err).Code == "import_lease_lost" }
	refused := []struct {
		name, owner string
		p           memberimport.Progress
	}{
		{"another runner's", "b", memberimport.Progress{From: 0, To: 1, Skipped: 1}},
		{"a stale", "a", memberimport.Progress{From: 1, To: 2, Skipped: 1}},
	}
	for _, c := range refused {
		name, owner, p := c.name, c.owner, c.p
		if err := r.Store.Apply(ctx, advance(owner, p)); !lost(err) {
			t.Errorf("%s advance on its own: %v, want import_lease_lost", name, err)
		}
		mobile := st.Mobile()
		errStale := errors.New("stale")
		_, err := r.Directory.AddMember(ctx, tn.ID, directory.MemberInput{Name: "李雷", Mobile: mobile},
			directory.Extra{Update: advance(owner, p), Err: errStale})
		if err != errStale {
			t.Errorf("%s advance with a member: %v, want its Err", name, err)
		}
		if held, err := r.Directory.Holders(ctx, tn.ID, directory.UniqueMobile, []string{mobile}); err != nil || len(held) != 0 {
			t.Errorf("%s advance with a member: the member was written (%v %v)", name, held, err)
		}
	}
	if err := r.Store.Apply(ctx, advance("a", memberimport.Progress{From: 0, To: 1, Skipped: 1})); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Directory.AddMember(ctx, tn.ID, directory.MemberInput{Name: "韩梅梅", Mobile: st.Mobile()},
		directory.Extra{Update: advance("a", memberimport.Progress{From: 1, To: 2, Created: 1})}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Store.Get(ctx, tn.ID, j.ID)
	if err != nil || got.Processed != 2 || got.Skipped != 1 || got.Created != 1 || got.Updated+got.Failed != 0 {
		t.Errorf("job %+v %v, want 2 processed: 1 skipped, 1 created", got, err)
	}
}
