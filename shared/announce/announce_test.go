package announce

import (
	"strings"
	"testing"
)

func TestAddressedTo(t *testing.T) {
	a := &Announcement{Reach: []string{"sales", "east"}}
	if !a.AddressedTo([]string{"ops", "east"}) || a.AddressedTo([]string{"ops"}) || a.AddressedTo(nil) {
		t.Fatal("reach by departments")
	}
	if !(&Announcement{Everyone: true}).AddressedTo(nil) {
		t.Fatal("everyone includes members of no department")
	}
}

func TestExcerpt(t *testing.T) {
	if got := excerpt("  a\n\nb  c "); got != "a b c" {
		t.Fatalf("excerpt %q", got)
	}
	long := strings.Repeat("字", ExcerptLen+5)
	if got := []rune(excerpt(long)); len(got) != ExcerptLen+1 || got[ExcerptLen] != '…' {
		t.Fatalf("long excerpt has %d runes", len(got))
	}
}

func TestNormalizeTitleCountsCharacters(t *testing.T) {
	if _, err := normalizeTitle(strings.Repeat("题", MaxTitle)); err != nil {
		t.Fatalf("100 Chinese characters: %v", err)
	}
	if _, err := normalizeTitle(strings.Repeat("题", MaxTitle+1)); err == nil {
		t.Fatal("101 characters accepted")
	}
}
