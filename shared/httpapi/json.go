package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"workbench/shared/errs"
)

// MaxBodyBytes bounds every JSON request body.
const MaxBodyBytes = 64 << 10

// Decode reads one JSON object from r's body into dst. Unknown fields, wrong
// types, trailing data, text no field may hold and nulls where a value must
// be are Invalid errors that name the field at fault; a body over
// MaxBodyBytes is TooLarge (413 body_too_large, as the gateway answers for
// bodies over its own limit).
func Decode(r *http.Request, dst any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return errs.Invalidf("", "unreadable_body", "the request body could not be read")
	}
	return DecodeBytes(body, dst)
}

// DecodeBytes is Decode for a body already in memory.
func DecodeBytes(body []byte, dst any) error {
	if len(body) > MaxBodyBytes {
		return errs.E(errs.TooLarge, "body_too_large", "the request body is larger than %d KiB", MaxBodyBytes>>10)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return errs.Invalidf("", "empty_body", "a JSON object is required")
	}
	if string(trimmed) == "null" {
		return errs.Invalidf("", "malformed_json", "the body must be a JSON object, not null")
	}
	// Text first: the decoder's own errors (an unknown field) would name
	// a key with the very characters that must not be echoed.
	if err := scanBody(body, reflect.TypeOf(dst)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if e := decodeError(err); errs.Is(e, "unknown_field") {
			// encoding/json names an unknown field without its parents;
			// find its whole path, so a nested one reads "admin.nick".
			if path := unknownField(body, reflect.TypeOf(dst)); path != "" {
				return errs.Invalidf(path, "unknown_field", "unknown field %q", path)
			}
			return e
		}
		return decodeError(err)
	}
	if dec.More() {
		return errs.Invalidf("", "malformed_json", "the body must hold exactly one JSON object")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return errs.Invalidf("", "malformed_json", "the body must hold exactly one JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return errs.Invalidf("", "malformed_json", "malformed JSON at byte %d", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Invalidf("", "malformed_json", "the JSON body ends too early")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return errs.Invalidf("", "malformed_json", "the body must be a JSON object")
		}
		return errs.Invalidf(field, "wrong_type", "%s must be %s", field, jsonType(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errs.Invalidf(field, "unknown_field", "unknown field %q", field)
	}
	return errs.Invalidf("", "malformed_json", "the body is not valid JSON")
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	}
	return "of another type"
}

// JSON writes v as the response body with the given status. It is the one
// JSON encoder of every HTTP function.
func JSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Our own values always marshal; reaching this is a programming error.
		status, body = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	// The status is sent: a client that went away cannot be told more.
	_, _ = w.Write(append(body, '\n'))
}

// NoContent answers 204.
func NoContent(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

// Page is the shape of every paged list.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// InvalidQuery reports a bad query parameter.
func InvalidQuery(param, format string, args ...any) error {
	return errs.Invalidf(param, "invalid_query", format, args...)
}

// unknownField returns the path ("admin.nick", "items[0].bogus") of the
// first key of body, in sorted key order, that type t has no field for.
func unknownField(body []byte, t reflect.Type) string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	return walkUnknown(v, t, "")
}

func walkUnknown(v any, t reflect.Type, path string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub := joinPath(path, k)
			switch t.Kind() {
			case reflect.Struct:
				ft, ok := jsonField(t, k)
				if !ok {
					return sub
				}
				if p := walkUnknown(x[k], ft, sub); p != "" {
					return p
				}
			case reflect.Map:
				if p := walkUnknown(x[k], t.Elem(), sub); p != "" {
					return p
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, e := range x {
				if p := walkUnknown(e, t.Elem(), path+"["+strconv.Itoa(i)+"]"); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonField finds the type of the field encoding/json decodes key into:
// the tag's name, else the Go name, matched without regard to case, and
// through embedded structs.
func jsonField(t reflect.Type, key string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if ft, ok := jsonField(et, key); ok {
					return ft, true
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.EqualFold(name, key) {
			return f.Type, true
		}
	}
	return nil, false
}
