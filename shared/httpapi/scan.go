package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"workbench/shared/errs"
	"workbench/shared/text"
)

// scanBody walks a body that decoded into a value of type t and refuses
// what encoding/json lets through: invalid UTF-8 (which it silently turns
// into U+FFFD), text no field may hold (text.Check), and an explicit null
// where the Go value cannot be absent (a struct, a string, a number or a
// boolean that is no pointer), which it silently leaves at the zero value.
// Errors name the field by its path: "admin.name", "items[2]".
func scanBody(body []byte, t reflect.Type) error {
	s := &scanner{dec: json.NewDecoder(bytes.NewReader(body)), body: body}
	s.dec.UseNumber()
	return s.value(t, "")
}

type scanner struct {
	dec  *json.Decoder
	body []byte
	last int64 // the offset up to which the body has been checked
}

// token returns the next token and the bytes it was read from (with the
// separators and space before it).
func (s *scanner) token() (json.Token, []byte, error) {
	tok, err := s.dec.Token()
	if err != nil {
		return nil, nil, err
	}
	end := s.dec.InputOffset()
	raw := s.body[s.last:end]
	s.last = end
	return tok, raw, nil
}

var (
	rawMessage  = reflect.TypeFor[json.RawMessage]()
	unmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarsh = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (s *scanner) value(t reflect.Type, path string) error {
	tok, raw, err := s.token()
	if err != nil {
		return nil // the decoder proper has already accepted the body
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return s.object(t, path)
		case '[':
			return s.array(t, path)
		}
	case string:
		return s.text(path, v, raw)
	case nil:
		if path == "" || !nullable(t) {
			return errs.Invalidf(path, "wrong_type", "%s must not be null", fieldName(path))
		}
	}
	return nil
}

func (s *scanner) object(t reflect.Type, path string) error {
	t = deref(t)
	for s.dec.More() {
		tok, raw, err := s.token()
		if err != nil {
			return nil
		}
		key, _ := tok.(string)
		sub := joinPath(path, key)
		if err := s.text(sub, key, raw); err != nil {
			// Name the object, not the key: an error must not hand the
			// offending characters back to whoever displays it.
			return errs.Invalidf(path, text.Code, "a key of %s holds text no field may hold: %s", fieldName(path), errs.As(err).Message[len(sub)+1:])
		}
		var ft reflect.Type
		switch {
		case t == nil || opaque(t):
		case t.Kind() == reflect.Struct:
			ft, _ = jsonField(t, key)
		case t.Kind() == reflect.Map:
			ft = t.Elem()
		}
		if err := s.value(ft, sub); err != nil {
			return err
		}
	}
	// The closing brace. A body that ends early is the decoder's to report
	// (malformed_json), not this scan's.
	_, _, _ = s.token()
	return nil
}

func (s *scanner) array(t reflect.Type, path string) error {
	t = deref(t)
	var et reflect.Type
	if t != nil && !opaque(t) && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		et = t.Elem()
	}
	for i := 0; s.dec.More(); i++ {
		if err := s.value(et, path+"["+strconv.Itoa(i)+"]"); err != nil {
			return err
		}
	}
	_, _, _ = s.token() // the closing bracket; as for the brace
	return nil
}

// text checks a string token: raw holds its undecoded bytes, where invalid
// UTF-8 can still be seen.
func (s *scanner) text(path, v string, raw []byte) error {
	if err := text.Check(fieldName(path), string(raw)); err != nil {
		// The raw bytes hold only separators, space and the string token,
		// none of them forbidden: the fault is in the token.
		return err
	}
	if strings.ContainsRune(v, utf8.RuneError) && !bytes.ContainsRune(raw, utf8.RuneError) &&
		!strings.Contains(strings.ToLower(string(raw)), `\ufffd`) {
		// encoding/json put U+FFFD for a lone surrogate escape (\ud800).
		return errs.Invalidf(path, text.Code, "%s must be valid Unicode: it holds a lone surrogate escape", fieldName(path))
	}
	return text.Check(fieldName(path), v)
}

// nullable reports whether a JSON null can stand for a value of type t:
// pointers, maps, slices and interfaces have an absent value; so does a
// value of unknown type.
func nullable(t reflect.Type) bool {
	if t == nil || t == rawMessage {
		return true
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return true
	}
	return false
}

// opaque reports whether values of t decode themselves: their insides are
// not fields of the body's type.
func opaque(t reflect.Type) bool {
	return t == rawMessage || t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler) ||
		t.Implements(textUnmarsh) || reflect.PointerTo(t).Implements(textUnmarsh)
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// fieldName is path, or "body" for the body itself.
func fieldName(path string) string {
	if path == "" {
		return "body"
	}
	return path
}
