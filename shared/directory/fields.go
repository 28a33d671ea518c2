package directory

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"workbench/shared/errs"
	"workbench/shared/text"
)

// Field is a tenant's custom directory field.
type Field struct {
	Code        string   `json:"code" dynamodbav:"code"`
	Name        string   `json:"name" dynamodbav:"name"`
	Description string   `json:"description,omitempty" dynamodbav:"description,omitempty"`
	Type        string   `json:"type" dynamodbav:"type"`
	Required    bool     `json:"required" dynamodbav:"required"`
	Options     []string `json:"options,omitempty" dynamodbav:"options,omitempty"`
}

// Field types.
const (
	FieldText   = "text"
	FieldDate   = "date"
	FieldSingle = "single"
	FieldMulti  = "multi"
)

// Limits of custom fields.
const (
	MaxFields           = 50
	MaxFieldCodeLen     = 64
	MaxFieldNameRunes   = 15
	MaxFieldDescRunes   = 256
	MaxFieldOptions     = 100
	MaxFieldOptionRunes = 64
	MaxFieldTextRunes   = 1000
)

// NormalizeFields checks a tenant's field definitions (field names like
// "items[3].code"). Codes are immutable: a code of prev keeps its type.
func NormalizeFields(in []Field, prev []Field) ([]Field, error) {
	if len(in) > MaxFields {
		return nil, errs.Invalidf("items", "too_many_fields", "a tenant may define at most %d fields, not %d", MaxFields, len(in))
	}
	prevType := map[string]string{}
	for _, f := range prev {
		prevType[f.Code] = f.Type
	}
	seen := map[string]bool{}
	out := make([]Field, 0, len(in))
	for i, f := range in {
		at := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
		f.Code = strings.TrimSpace(f.Code)
		if f.Code == "" || len(f.Code) > MaxFieldCodeLen || strings.IndexFunc(f.Code, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
		}) >= 0 {
			return nil, errs.Invalidf(at("code"), "invalid_field_code", "%s must be 1–%d letters, digits or _", at("code"), MaxFieldCodeLen)
		}
		if seen[f.Code] {
			return nil, errs.Invalidf(at("code"), "duplicate_field_code", "field code %q appears twice", f.Code)
		}
		seen[f.Code] = true
		f.Name = strings.TrimSpace(f.Name)
		if err := text.Line(at("name"), f.Name); err != nil {
			return nil, err
		}
		if n := utf8.RuneCountInString(f.Name); n == 0 || n > MaxFieldNameRunes {
			return nil, errs.Invalidf(at("name"), "invalid_field_name", "%s must be 1–%d characters", at("name"), MaxFieldNameRunes)
		}
		f.Description = strings.TrimSpace(f.Description)
		if err := text.Line(at("description"), f.Description); err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(f.Description) > MaxFieldDescRunes {
			return nil, errs.Invalidf(at("description"), "invalid_field_description", "%s must be at most %d characters", at("description"), MaxFieldDescRunes)
		}
		switch f.Type {
		case FieldText, FieldDate:
			if len(f.Options) > 0 {
				return nil, errs.Invalidf(at("options"), "invalid_field_options", "a %s field has no options", f.Type)
			}
			f.Options = nil
		case FieldSingle, FieldMulti:
			if len(f.Options) == 0 || len(f.Options) > MaxFieldOptions {
				return nil, errs.Invalidf(at("options"), "invalid_field_options", "a %s field needs 1–%d options", f.Type, MaxFieldOptions)
			}
			opts := map[string]bool{}
			for j, o := range f.Options {
				o = strings.TrimSpace(o)
				if err := text.Line(fmt.Sprintf("%s[%d]", at("options"), j), o); err != nil {
					return nil, err
				}
				if n := utf8.RuneCountInString(o); n == 0 || n > MaxFieldOptionRunes || opts[o] {
					return nil, errs.Invalidf(at("options"), "invalid_field_options",
						"option %d must be 1–%d characters and not repeat another", j, MaxFieldOptionRunes)
				}
				opts[o] = true
				f.Options[j] = o
			}
		default:
			return nil, errs.Invalidf(at("type"), "invalid_field_type", "%s must be text, date, single or multi", at("type"))
		}
		if t, ok := prevType[f.Code]; ok && t != f.Type {
			return nil, errs.Invalidf(at("type"), "field_type_immutable", "field %q is a %s field; its code and type cannot change (remove it and add a new code)", f.Code, t)
		}
		out = append(out, f)
	}
	return out, nil
}

// NormalizeFieldValues checks a member's custom field values against the
// definitions: unknown codes, wrong types, options not in the list and
// missing required fields are each a 400 naming "fields.<code>". Empty
// values are dropped.
func NormalizeFieldValues(values map[string]any, defs []Field) (map[string]any, error) {
	byCode := make(map[string]Field, len(defs))
	for _, d := range defs {
		byCode[d.Code] = d
	}
	out := map[string]any{}
	for code, v := range values {
		field := "fields." + code
		d, ok := byCode[code]
		if !ok {
			return nil, errs.Invalidf(field, "unknown_field", "the tenant has no field %q", code)
		}
		if v == nil {
			continue
		}
		switch d.Type {
		case FieldText, FieldDate, FieldSingle:
			str, ok := v.(string)
			if !ok {
				return nil, errs.Invalidf(field, "invalid_field_value", "%s must be a string", field)
			}
			str = strings.TrimSpace(str)
			if str == "" {
				continue
			}
			switch d.Type {
			case FieldText:
				if err := text.Lines(field, str); err != nil {
					return nil, err
				}
				if utf8.RuneCountInString(str) > MaxFieldTextRunes {
					return nil, errs.Invalidf(field, "invalid_field_value", "%s must be at most %d characters", field, MaxFieldTextRunes)
				}
			case FieldDate:
				if _, err := time.Parse(time.DateOnly, str); err != nil {
					return nil, errs.Invalidf(field, "invalid_field_value", "%s must be a date YYYY-MM-DD", field)
				}
			case FieldSingle:
				if !contains(d.Options, str) {
					return nil, errs.Invalidf(field, "invalid_field_value", "%s must be one of its options", field)
				}
			}
			out[code] = str
		case FieldMulti:
			list, ok := v.([]any)
			if !ok {
				return nil, errs.Invalidf(field, "invalid_field_value", "%s must be a list of options", field)
			}
			var picked []any
			seen := map[string]bool{}
			for _, x := range list {
				str, ok := x.(string)
				if !ok || !contains(d.Options, str) {
					return nil, errs.Invalidf(field, "invalid_field_value", "%s must list only its options", field)
				}
				if !seen[str] {
					seen[str] = true
					picked = append(picked, str)
				}
			}
			if len(picked) > 0 {
				out[code] = picked
			}
		}
	}
	for _, d := range defs {
		if _, ok := out[d.Code]; d.Required && !ok {
			return nil, errs.Invalidf("fields."+d.Code, "field_required", "field %q (%s) is required", d.Code, d.Name)
		}
	}
	return out, nil
}

// fields reads the definitions and their version (0: none yet).
func (s *Service) fields(ctx context.Context, tenantID string) ([]Field, int, error) {
	return s.Store.Fields(ctx, tenantID)
}

// Fields returns the tenant's custom field definitions.
func (s *Service) Fields(ctx context.Context, tenantID string) ([]Field, error) {
	f, _, err := s.fields(ctx, tenantID)
	return f, err
}

// PutFields replaces the tenant's custom field definitions. Codes are
// immutable: a code keeps its type; removing a code removes the field.
func (s *Service) PutFields(ctx context.Context, tenantID string, in []Field) ([]Field, error) {
	var out []Field
	err := retry(ctx, func() error {
		prev, version, err := s.fields(ctx, tenantID)
		if err != nil {
			return err
		}
		if out, err = NormalizeFields(in, prev); err != nil {
			return err
		}
		return s.Store.PutFields(ctx, tenantID, out, version, fieldsChange(prev, out))
	})
	return out, err
}
