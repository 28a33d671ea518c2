package notice

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestDecodeImage(t *testing.T) {
	n := Notice{ID: "n1", TenantID: "t1", MemberID: "m1", Kind: "expiry_warning", CreatedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	image, err := attributevalue.MarshalMap(record{PK: inboxPK("t1", "m1"), SK: "n1", Notice: n})
	if err != nil {
		t.Fatal(err)
	}
	keys := func(pk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: "n1"}}
	}
	for _, tc := range []struct {
		name    string
		pk      string
		ok, err bool
	}{
		{"inbox item", inboxPK("t1", "m1"), true, false},
		{"another item", "COUNTER#t1", false, false},
		{"another member's inbox", inboxPK("t1", "m2"), false, true},
	} {
		got, ok, err := DecodeImage(keys(tc.pk), image)
		if ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("%s: ok %v, err %v; want ok %v, error %v", tc.name, ok, err, tc.ok, tc.err)
		}
		if ok && (got.ID != n.ID || got.TenantID != "t1" || got.MemberID != "m1" || !got.CreatedAt.Equal(n.CreatedAt)) {
			t.Errorf("%s: decoded %+v, want %+v", tc.name, got, n)
		}
	}
}
