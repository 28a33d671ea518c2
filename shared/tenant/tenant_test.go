package tenant

import (
	"strings"
	"testing"
)

func TestNormalizeCode(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"acme", true},
		{"acme-2", true},
		{"a1b", true},
		{strings.Repeat("a", 32), true},
		{"ab", false},
		{strings.Repeat("a", 33), false},
		{"Acme", false},
		{"acme_co", false},
		{"-acme", false},
		{"acme-", false},
		{"ac me", false},
		{"www", false},
		{"公司", false},
	}
	for _, tt := range tests {
		_, err := NormalizeCode("code", tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("NormalizeCode(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}
