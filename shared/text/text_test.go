package text

import (
	"testing"

	"workbench/shared/errs"
)

func TestRules(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		line, all bool // accepted by Line, by Lines
	}{
		{"plain", "会议 Meeting 2026", true, true},
		{"emoji and accents", "Café ☕ 👍", true, true},
		{"arabic without controls", "مرحبا", true, true},
		{"empty", "", true, true},
		{"NUL", "会\x00议", false, false},
		{"escape", "a\x1bb", false, false},
		{"bell", "a\ab", false, false},
		{"DEL", "a\x7fb", false, false},
		{"C1 NEL", "a\u0085b", false, false},
		{"C1 CSI", "a\u009bb", false, false},
		{"tab", "a\tb", false, true},
		{"newline", "a\nb", false, true},
		{"CR LF", "a\r\nb", false, true},
		{"line separator", "a\u2028b", false, true},
		{"paragraph separator", "a\u2029b", false, true},
		{"LRE", "a\u202ab", false, false},
		{"RLE", "a\u202bb", false, false},
		{"PDF", "a\u202cb", false, false},
		{"LRO", "a\u202db", false, false},
		{"RLO", "会议\u202e反转", false, false},
		{"LRI", "a\u2066b", false, false},
		{"RLI", "a\u2067b", false, false},
		{"FSI", "a\u2068b", false, false},
		{"PDI", "a\u2069b", false, false},
		{"LRM is a mark, not an override", "a\u200eb", true, true},
		{"invalid UTF-8", "a\xffb", false, false},
		{"truncated UTF-8", "会\xe8\xae", false, false},
		{"overlong NUL", "a\xc0\x80b", false, false},
		{"surrogate half", "a\xed\xa0\x80b", false, false},
	}
	for _, tt := range tests {
		for _, c := range []struct {
			fn   func(string, string) error
			name string
			ok   bool
		}{{Line, "Line", tt.line}, {Lines, "Lines", tt.all}} {
			err := c.fn("title", tt.in)
			if c.ok && err != nil {
				t.Errorf("%s: %s(%q) = %v, want nil", tt.name, c.name, tt.in, err)
			}
			if !c.ok {
				e := errs.As(err)
				if err == nil || e.Kind != errs.Invalid || e.Code != Code || e.Field != "title" {
					t.Errorf("%s: %s(%q) = %v, want %s naming title", tt.name, c.name, tt.in, err, Code)
				}
			}
		}
	}
}
