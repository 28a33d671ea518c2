package dynamo

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

// MaxCursor bounds the length of a cursor a client sends back; the ones
// Cursors makes are far shorter.
const MaxCursor = 2048

// Cursors makes and reads the cursors of one list: opaque base64url
// strings that carry where the next page starts (a LastEvaluatedKey, or a
// position of the list's own type) and are bound to the list and scope
// they came from. A cursor of another list, or of the same list for
// another tenant, member or filter, does not decode.
//
// The binding is a digest, not a signature: a client can still forge a
// cursor for its own list. So DecodeKey also checks the key against the
// partition the list reads, and a forged cursor never reaches another
// tenant's items.
type Cursors struct{ tag string }

// ListCursors returns the cursors of the list named list (e.g.
// "approvals/todo") over scope: everything that selects the list's items,
// such as the tenant, the member and the filters.
func ListCursors(list string, scope ...string) Cursors {
	h := sha256.New()
	// Each part goes in with its length, so that no two scopes run
	// together into the same bytes.
	for _, s := range append([]string{list}, scope...) {
		h.Write([]byte(strconv.Itoa(len(s)) + ":" + s))
	}
	return Cursors{tag: base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])}
}

// InvalidCursor is the error of a cursor this list did not make: a 400
// invalid_cursor naming the cursor parameter.
func InvalidCursor() error {
	return errs.Invalidf("cursor", "invalid_cursor", "cursor is not one this list returned")
}

type cursor struct {
	List string            `json:"l"`
	Key  map[string]string `json:"k,omitempty"`
	Pos  json.RawMessage   `json:"p,omitempty"`
}

func (c Cursors) encode(v cursor) string {
	v.List = c.tag
	b, _ := json.Marshal(v) // strings and an already marshalled position
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c Cursors) decode(s string) (cursor, error) {
	var v cursor
	if len(s) > MaxCursor {
		return v, InvalidCursor()
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || strict(b, &v) != nil || v.List != c.tag {
		return v, InvalidCursor()
	}
	return v, nil
}

// strict unmarshals one JSON value of v's shape and nothing else.
func strict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return InvalidCursor()
	}
	return nil
}

// EncodeKey returns the cursor of the page after the one that ended at
// key (a LastEvaluatedKey), or "" when key is nil: the list is done. Every
// table's key attributes are strings; others are left out, and DecodeKey
// then refuses the cursor.
func (c Cursors) EncodeKey(key map[string]types.AttributeValue) string {
	if key == nil {
		return ""
	}
	k := make(map[string]string, len(key))
	for name, v := range key {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			k[name] = s.Value
		}
	}
	return c.encode(cursor{Key: k})
}

// A KeyAttr is what one attribute of a decoded key must hold.
type KeyAttr struct {
	Name, Value string
	Prefix      bool // Value is a prefix of the attribute, not all of it
}

// KeyIs requires attribute name to be value.
func KeyIs(name, value string) KeyAttr { return KeyAttr{Name: name, Value: value} }

// KeyHasPrefix requires attribute name to start with prefix.
func KeyHasPrefix(name, prefix string) KeyAttr {
	return KeyAttr{Name: name, Value: prefix, Prefix: true}
}

// DecodeKey returns the ExclusiveStartKey a cursor of EncodeKey carries,
// nil for "" (the first page). The key must have exactly the attributes
// want names, each holding what it says; anything else is InvalidCursor.
func (c Cursors) DecodeKey(s string, want ...KeyAttr) (map[string]types.AttributeValue, error) {
	if s == "" {
		return nil, nil
	}
	v, err := c.decode(s)
	if err != nil || v.Key == nil || len(v.Key) != len(want) || v.Pos != nil {
		return nil, InvalidCursor()
	}
	key := make(map[string]types.AttributeValue, len(want))
	for _, w := range want {
		got, ok := v.Key[w.Name]
		if !ok || got == "" || !w.Prefix && got != w.Value || w.Prefix && !strings.HasPrefix(got, w.Value) {
			return nil, InvalidCursor()
		}
		key[w.Name] = &types.AttributeValueMemberS{Value: got}
	}
	return key, nil
}

// Encode returns the cursor of the page after pos, a position of the
// list's own type (a sort key, a sequence number, a struct).
func (c Cursors) Encode(pos any) string {
	b, err := json.Marshal(pos)
	if err != nil {
		// Positions are plain values: one that does not marshal is a bug.
		panic("dynamo: cursor position does not encode: " + err.Error())
	}
	return c.encode(cursor{Pos: b})
}

// Decode reads the position a cursor of Encode carries into pos (a
// pointer) and reports whether there was one: "" is the first page. The
// caller checks that the position is one its list can hold.
func (c Cursors) Decode(s string, pos any) (bool, error) {
	if s == "" {
		return false, nil
	}
	v, err := c.decode(s)
	if err != nil || v.Pos == nil || v.Key != nil || strict(v.Pos, pos) != nil {
		return false, InvalidCursor()
	}
	return true, nil
}
