package directory

import (
	"strconv"
	"strings"
	"sync"
	"unicode"
)

//go:generate go run pinyin_gen.go

// pinyinMarker opens the table; infra/coldstart looks for it to tell the
// binaries that carry the dictionary.
const pinyinMarker = "workbench pinyin readings v1"

// pinyinDict maps each character to its readings. It is built on first use
// rather than at init (as github.com/mozillazg/go-pinyin builds its map),
// so only the functions that index or search names pay for it, and only
// when they do. Nothing but pinyinReadings refers to the table, so the
// linker leaves it out of the other functions' binaries.
var (
	pinyinOnce sync.Once
	pinyinDict map[rune][]string
)

func loadPinyin() {
	lines := strings.Split(pinyinTable[len(pinyinMarker)+1:], "\n")
	pinyinDict = make(map[rune][]string, len(lines))
	for _, line := range lines {
		hex, readings, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		r, err := strconv.ParseInt(hex, 16, 32)
		if err != nil {
			panic("directory: bad pinyin table line " + line)
		}
		pinyinDict[rune(r)] = strings.Split(readings, ",")
	}
}

// pinyinReadings returns the readings of r without tones, most common
// first; none when r is not a Chinese character of the dictionary.
func pinyinReadings(r rune) []string {
	pinyinOnce.Do(loadPinyin)
	return pinyinDict[r]
}

// AccountFromName proposes a login account from a name: the pinyin of its
// Chinese characters (first reading of each) followed by its letters and
// digits, lower case, cut to the account limit. 张三 → zhangsan. A name with
// nothing usable yields "user".
func AccountFromName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.Is(unicode.Han, r):
			if readings := pinyinReadings(r); len(readings) > 0 {
				b.WriteString(readings[0])
			}
		case r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(unicode.ToLower(r))
		}
	}
	a := b.String()
	if len(a) > MaxAccountRunes {
		a = a[:MaxAccountRunes]
	}
	if a == "" {
		return "user"
	}
	return a
}
