package directory_test

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/directory"
)

// The tenant's admin set follows every change of who is an enabled admin
// (create, role change, disable, enable, delete), and a snapshot taken
// before a change fails its checks after it.
func TestAdminSetAndRecipientChecks(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	tn := s.newTenant(t)
	roster := &directory.Roster{DB: s.DB, Table: s.Codec.Table, Codec: s.Codec}
	add := func(role string) directory.Member {
		m, err := s.Service.AddMember(ctx, tn.ID, directory.MemberInput{Name: "赵六", Mobile: s.mobile(), Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	admin, member := add(directory.RoleAdmin), add(directory.RoleMember)
	patch := func(id string, p directory.MemberPatch) {
		if _, err := s.Service.UpdateMember(ctx, tn.ID, id, p); err != nil {
			t.Fatal(err)
		}
	}
	role := func(r string) directory.MemberPatch { return directory.MemberPatch{Role: &r} }
	enabled := func(on bool) directory.MemberPatch { return directory.MemberPatch{Enabled: &on} }
	mobile := s.mobile()

	steps := []struct {
		name   string
		change func()
		want   []string // enabled admins after it
		same   bool     // the snapshot of the admins before it still holds
	}{
		{"start", func() {}, []string{tn.AdminID, admin.ID}, true},
		{"member renamed", func() { n := "钱七"; patch(member.ID, directory.MemberPatch{Name: &n}) }, []string{tn.AdminID, admin.ID}, true},
		{"promote", func() { patch(member.ID, role(directory.RoleAdmin)) }, []string{tn.AdminID, admin.ID, member.ID}, false},
		{"disable", func() { patch(admin.ID, enabled(false)) }, []string{tn.AdminID, member.ID}, false},
		{"enable", func() { patch(admin.ID, enabled(true)) }, []string{tn.AdminID, admin.ID, member.ID}, false},
		{"demote", func() { patch(member.ID, role(directory.RoleMember)) }, []string{tn.AdminID, admin.ID}, false},
		{"admin's mobile", func() { patch(admin.ID, directory.MemberPatch{Mobile: &mobile}) }, []string{tn.AdminID, admin.ID}, false},
		{"delete", func() {
			if err := s.Service.DeleteMember(ctx, tn.ID, admin.ID); err != nil {
				t.Fatal(err)
			}
		}, []string{tn.AdminID}, false},
	}
	for _, st := range steps {
		before, err := roster.Recipients(ctx, tn.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		st.change()
		admins, err := roster.Admins(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range admins {
			got = append(got, m.ID)
		}
		slices.Sort(got)
		slices.Sort(st.want)
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: admins %v, want %v", st.name, got, st.want)
		}
		if held := holds(t, s, tn.ID, before, admin.ID); held != st.same {
			t.Errorf("%s: the snapshot taken before still holds: %v, want %v", st.name, held, st.same)
		}
	}
	// The current snapshot holds and opens the admin's mobile.
	now, err := roster.Recipients(ctx, tn.ID, nil)
	if err != nil || len(now.Members) != 1 || !now.Members[0].Send {
		t.Fatalf("snapshot: %+v %v", now, err)
	}
	if got, err := roster.Mobile(tn.ID, now.Members[0]); err != nil || got != tn.AdminMobile {
		t.Errorf("mobile %q %v, want %s", got, err, tn.AdminMobile)
	}
	if !holds(t, s, tn.ID, now, tn.AdminID) {
		t.Error("a current snapshot fails its checks")
	}
}

// An ADMINS item written before it kept ids: the admins are still found
// (by reading the members), until every admin of then has left the set.
func TestAdminsOfAnOlderAdminSet(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	tn := s.newTenant(t)
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.Codec.Table),
		Key:              map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: directory.TenantPK(tn.ID)}, "sk": &types.AttributeValueMemberS{Value: "ADMINS"}},
		UpdateExpression: aws.String("REMOVE ids, rev"),
	})
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Service.AddMember(ctx, tn.ID, directory.MemberInput{Name: "赵六", Mobile: s.mobile(), Role: directory.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	roster := &directory.Roster{DB: s.DB, Table: s.Codec.Table, Codec: s.Codec}
	to, err := roster.Recipients(ctx, tn.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range to.Members {
		got = append(got, r.ID)
	}
	want := []string{tn.AdminID, second.ID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("admins %v, want %v", got, want)
	}
	if !holds(t, s, tn.ID, to, second.ID) {
		t.Error("the snapshot fails its checks")
	}
}

// holds runs the checks of a delivery to memberID alone in a transaction.
func holds(t *testing.T, s *testStack, tenantID string, to directory.Recipients, memberID string) bool {
	t.Helper()
	_, err := s.DB.TransactWriteItems(context.Background(), &dynamodb.TransactWriteItemsInput{TransactItems: s.Codec.RecipientChecks(tenantID, to, memberID)})
	return err == nil
}
