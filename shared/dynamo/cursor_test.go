package dynamo

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	e := errs.As(err)
	if e == nil || e.Kind != errs.Invalid || e.Code != "invalid_cursor" || e.Field != "cursor" {
		t.Errorf("%s: %v, want invalid_cursor on cursor", what, err)
	}
}

func TestCursorKeyRoundTrip(t *testing.T) {
	todo := ListCursors("approvals/todo", "t1", "m1")
	key := map[string]types.AttributeValue{"pk": s("TODO#t1#m1"), "sk": s("01J")}
	c := todo.EncodeKey(key)
	got, err := todo.DecodeKey(c, KeyIs("pk", "TODO#t1#m1"), KeyHasPrefix("sk", ""))
	if err != nil || !reflect.DeepEqual(got, key) {
		t.Fatalf("DecodeKey = %v, %v; want %v", got, err, key)
	}
	if todo.EncodeKey(nil) != "" {
		t.Error("the end of a list has a cursor")
	}
	if k, err := todo.DecodeKey(""); k != nil || err != nil {
		t.Errorf(`DecodeKey("") = %v, %v; want the first page`, k, err)
	}
	if strings.Contains(c, "t1") || strings.ContainsAny(c, "+/=") {
		t.Errorf("cursor %q is not opaque base64url", c)
	}
}

func TestCursorRefusesOthers(t *testing.T) {
	todo := ListCursors("approvals/todo", "t1", "m1")
	want := []KeyAttr{KeyIs("pk", "TODO#t1#m1"), KeyHasPrefix("sk", "A#")}
	own := func(k map[string]types.AttributeValue) string { return todo.EncodeKey(k) }
	raw := func(j string) string { return base64.RawURLEncoding.EncodeToString([]byte(j)) }
	tag := todo.tag
	for _, tc := range []struct{ name, cursor string }{
		{"not base64", "!!!"},
		{"not JSON", raw("nope")},
		{"too long", strings.Repeat("A", MaxCursor+1)},
		{"another list", ListCursors("approvals/submitted", "t1", "m1").EncodeKey(map[string]types.AttributeValue{"pk": s("TODO#t1#m1"), "sk": s("A#1")})},
		{"another member", ListCursors("approvals/todo", "t1", "m2").EncodeKey(map[string]types.AttributeValue{"pk": s("TODO#t1#m1"), "sk": s("A#1")})},
		{"scope parts run together", ListCursors("approvals/todo", "t1m1").EncodeKey(map[string]types.AttributeValue{"pk": s("TODO#t1#m1"), "sk": s("A#1")})},
		{"forged partition", own(map[string]types.AttributeValue{"pk": s("TODO#t2#m9"), "sk": s("A#1")})},
		{"sort key of another kind", own(map[string]types.AttributeValue{"pk": s("TODO#t1#m1"), "sk": s("B#1")})},
		{"extra attribute", own(map[string]types.AttributeValue{"pk": s("TODO#t1#m1"), "sk": s("A#1"), "gsi1pk": s("x")})},
		{"missing attribute", own(map[string]types.AttributeValue{"pk": s("TODO#t1#m1")})},
		{"number attribute", own(map[string]types.AttributeValue{"pk": s("TODO#t1#m1"), "sk": &types.AttributeValueMemberN{Value: "1"}})},
		{"a position, not a key", todo.Encode("A#1")},
		{"unknown field", raw(`{"l":"` + tag + `","k":{"pk":"TODO#t1#m1","sk":"A#1"},"x":1}`)},
		{"trailing data", raw(`{"l":"` + tag + `","k":{"pk":"TODO#t1#m1","sk":"A#1"}}{}`)},
	} {
		_, err := todo.DecodeKey(tc.cursor, want...)
		wantInvalid(t, tc.name, err)
	}
}

func TestCursorPosition(t *testing.T) {
	type pos struct {
		Seq int64  `json:"s"`
		ID  string `json:"i"`
	}
	log := ListCursors("audit", "t1", "actor=", "action=member.create")
	var got pos
	if ok, err := log.Decode(log.Encode(pos{7, "x"}), &got); !ok || err != nil || got != (pos{7, "x"}) {
		t.Fatalf("Decode = %v, %v, %+v", ok, err, got)
	}
	if ok, err := log.Decode("", &got); ok || err != nil {
		t.Errorf(`Decode("") = %v, %v; want the first page`, ok, err)
	}
	other := ListCursors("audit", "t1", "actor=", "action=member.delete")
	for _, tc := range []struct{ name, cursor string }{
		{"another filter", other.Encode(pos{7, "x"})},
		{"a key, not a position", log.EncodeKey(map[string]types.AttributeValue{"pk": s("x")})},
		{"another type", log.Encode("seven")},
		{"garbage", "zz"},
	} {
		_, err := log.Decode(tc.cursor, &got)
		wantInvalid(t, tc.name, err)
	}
}
