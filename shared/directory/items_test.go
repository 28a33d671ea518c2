package directory_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/directory"
)

// TestMemberOfNamesTheMemberOfEveryPointer reads a tenant's items after a
// member is added to a department: each reservation, search token and
// membership names its member through MemberOf, and no other item does.
func TestMemberOfNamesTheMemberOfEveryPointer(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	ctx := context.Background()
	d, err := s.Service.CreateDepartment(ctx, tn.ID, "研发", "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Service.AddMember(ctx, tn.ID, directory.MemberInput{Name: "张伟", Mobile: s.mobile(), DepartmentIDs: []string{d.ID}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.Codec.Table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: directory.TenantPK(tn.ID)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string // of m's pointers
	for _, it := range out.Items {
		sk := it["sk"].(*types.AttributeValueMemberS).Value
		kind := sk[:strings.IndexByte(sk, '#')+1]
		owner, ok := directory.MemberOf(it)
		pointer := kind == "UNIQUE#" || kind == "TOK#" || kind == "DM#"
		switch {
		case ok != pointer:
			t.Errorf("%s: MemberOf ok = %v", sk, ok)
		case ok && owner != m.ID && owner != tn.AdminID:
			t.Errorf("%s: MemberOf = %q, want %s or the admin", sk, owner, m.ID)
		case owner == m.ID && !slices.Contains(kinds, kind):
			kinds = append(kinds, kind)
		}
	}
	slices.Sort(kinds)
	if want := []string{"DM#", "TOK#", "UNIQUE#"}; !slices.Equal(kinds, want) {
		t.Errorf("m's pointers are of kinds %v, want %v", kinds, want)
	}
}
