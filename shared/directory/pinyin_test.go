package directory

import (
	"slices"
	"testing"

	"github.com/mozillazg/go-pinyin"
)

// The generated table says what go-pinyin says, for every character of its
// dictionary: run go generate when this fails after an upgrade.
func TestPinyinTable(t *testing.T) {
	all := pinyin.NewArgs()
	all.Heteronym = true
	first := pinyin.NewArgs()
	for r := range pinyin.PinyinDict {
		want := pinyin.SinglePinyin(rune(r), all)
		got := pinyinReadings(rune(r))
		if !slices.Equal(got, want) {
			t.Fatalf("readings of %c (%x) = %q, go-pinyin says %q", rune(r), r, got, want)
		}
		if len(want) > 0 && got[0] != pinyin.SinglePinyin(rune(r), first)[0] {
			t.Fatalf("first reading of %c = %q, go-pinyin says %q", rune(r), got[0], pinyin.SinglePinyin(rune(r), first))
		}
	}
	if n := len(pinyinDict); n < len(pinyin.PinyinDict)*9/10 {
		t.Errorf("the table has %d characters, go-pinyin %d", n, len(pinyin.PinyinDict))
	}
	for _, r := range "aZ9 。" {
		if got := pinyinReadings(r); got != nil {
			t.Errorf("readings of %q = %q, want none", r, got)
		}
	}
}
