package directory

import (
	"strings"
	"unicode"

	"github.com/mozillazg/go-pinyin"
)

// AccountFromName proposes a login account from a name: the pinyin of its
// Chinese characters (first reading of each) followed by its letters and
// digits, lower case, cut to the account limit. 张三 → zhangsan. A name with
// nothing usable yields "user".
func AccountFromName(name string) string {
	args := pinyin.NewArgs()
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.Is(unicode.Han, r):
			if readings := pinyin.SinglePinyin(r, args); len(readings) > 0 {
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
