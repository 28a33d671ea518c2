package directory

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Search works on blind-index token items. Each member writes one item per
// searchable form of its data (the lower-cased name and its 1–3 character
// n-grams, its 4–6 character prefixes, the account, the mobile and its last
// four digits, every pinyin reading of the name with its 2–6 letter
// prefixes, the initials and their prefixes). An item's key holds the HMAC
// of the form, never the form itself, so a query for q is a Query on the
// token of q: items read grow with the matches, not with the tenant. Longer
// queries than the forms cover look up a shorter form of themselves and the
// few candidates are checked on their opened data.
const (
	// MaxTokens bounds the token items of one member, so that an update
	// that replaces all of them still fits one transaction.
	MaxTokens = 30
	// maxReadings bounds the pinyin readings indexed for one name
	// (polyphonic characters multiply them).
	maxReadings  = 4
	maxNgram     = 3 // name substrings indexed in full up to this many characters
	maxPrefix    = 6 // name and pinyin prefixes indexed up to this many characters
	mobileSuffix = 4 // the shortest mobile suffix a search accepts
)

// Ranks of a match, best first.
const (
	RankExact     = 0
	RankPrefix    = 1
	RankSubstring = 2
	rankUnknown   = 3
)

// form is one searchable string of a member with the best rank a query
// equal to it can have.
type form struct {
	text string
	rank int
}

// searchForms returns the searchable forms of a member, deduplicated and
// capped at MaxTokens, the forms that make exact matches first.
func searchForms(name, account, mobile string) []form {
	seen := map[string]int{}
	var out []form
	add := func(text string, rank int) {
		if text == "" {
			return
		}
		if i, ok := seen[text]; ok {
			if rank < out[i].rank {
				out[i].rank = rank
			}
			return
		}
		seen[text] = len(out)
		out = append(out, form{text, rank})
	}
	lname := strings.ToLower(name)
	full, initials := readings(name)
	add(lname, RankExact)
	add(account, RankExact)
	add(mobile, RankExact)
	for _, p := range full {
		add(p, RankExact)
	}
	for _, p := range initials {
		add(p, RankExact)
	}
	if len(mobile) >= mobileSuffix {
		add(mobile[len(mobile)-mobileSuffix:], RankSubstring)
	}
	runes := []rune(lname)
	ngrams := func(n int) {
		for i := 0; i+n <= len(runes); i++ {
			if n == 1 && !unicode.IsLetter(runes[i]) && !unicode.IsDigit(runes[i]) {
				continue // a lone symbol finds nothing worth finding
			}
			r := RankSubstring
			if i == 0 {
				r = RankPrefix
			}
			add(string(runes[i:i+n]), r)
		}
	}
	prefixes := func(p string) {
		for n := 2; n < len(p) && n <= maxPrefix; n++ {
			add(p[:n], RankPrefix)
		}
	}
	// Single characters and pairs first: the commonest searches; then the
	// prefixes of the usual reading that longer searches reduce to, then
	// trigrams, and last the prefixes of rarer readings of polyphonic
	// characters. Names long enough to hit MaxTokens lose the tail.
	ngrams(1)
	ngrams(2)
	if len(full) > 0 {
		prefixes(initials[0])
		prefixes(full[0])
	}
	for n := maxNgram; n <= maxPrefix && n < len(runes); n++ {
		add(string(runes[:n]), RankPrefix)
	}
	ngrams(maxNgram)
	for i := 1; i < len(full); i++ {
		prefixes(full[i])
	}
	for i := 1; i < len(initials); i++ {
		prefixes(initials[i])
	}
	if len(out) > MaxTokens {
		out = out[:MaxTokens]
	}
	return out
}

// readings returns the full pinyin readings of a name and its initials
// (张三 → zhangsan, zs), every reading of polyphonic characters, capped at
// maxReadings. Letters and digits of the name stand for themselves.
func readings(name string) (full, initials []string) {
	fulls, inits := []string{""}, []string{""}
	for _, r := range strings.ToLower(name) {
		var opts []string
		switch {
		case unicode.Is(unicode.Han, r):
			opts = pinyinReadings(r)
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			opts = []string{string(r)}
		}
		if len(opts) == 0 {
			continue
		}
		fulls, inits = extend(fulls, opts, false), extend(inits, opts, true)
	}
	if len(fulls) == 1 && fulls[0] == "" {
		return nil, nil
	}
	return fulls, inits
}

func extend(prefixes, opts []string, initial bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range prefixes {
		for _, o := range opts {
			if initial {
				o = o[:1]
			}
			s := p + o
			if !seen[s] && len(out) < maxReadings {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// NormalizeQuery prepares a search: trimmed, lower case, a mobile with +86
// dropped.
func NormalizeQuery(q string) string {
	q = strings.ToLower(strings.TrimSpace(q))
	if m, err := NormalizeMobile("q", q); err == nil {
		return m
	}
	return q
}

// lookups returns the forms a search for q (normalised) looks up: q itself,
// and when q is longer than the indexed forms, the indexed form that every
// match of q has (a prefix or suffix of q). At most two, so a search is at
// most two Queries and one BatchGetItem.
func lookups(q string) []string {
	out := []string{q}
	switch n := utf8.RuneCountInString(q); {
	case allDigits(q) && len(q) > mobileSuffix && len(q) < 11:
		out = append(out, q[len(q)-mobileSuffix:])
	case ascii(q) && n > maxPrefix:
		out = append(out, q[:maxPrefix])
	case !ascii(q) && n > maxNgram:
		out = append(out, string([]rune(q)[:maxNgram]))
	}
	return out
}

// rank says how well a member matches q (normalised), or -1 when it does
// not: the check on opened data that orders and filters the candidates the
// tokens found.
func rank(m Member, q string) int {
	lname := strings.ToLower(m.Name)
	full, initials := readings(m.Name)
	if lname == q || m.Account == q || m.Mobile == q || contains(full, q) || contains(initials, q) {
		return RankExact
	}
	if strings.HasPrefix(lname, q) || strings.HasPrefix(m.Account, q) {
		return RankPrefix
	}
	if len(q) >= 2 && (hasPrefix(full, q) || hasPrefix(initials, q)) {
		return RankPrefix
	}
	if strings.Contains(lname, q) {
		return RankSubstring
	}
	if allDigits(q) && len(q) >= mobileSuffix && strings.HasSuffix(m.Mobile, q) {
		return RankSubstring
	}
	return -1
}

// Match is one search result.
type Match struct {
	Member Member
	Rank   int
}

// sortMatches orders matches best first, then by name and id.
func sortMatches(ms []Match) {
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].Rank != ms[j].Rank {
			return ms[i].Rank < ms[j].Rank
		}
		if ms[i].Member.Name != ms[j].Member.Name {
			return ms[i].Member.Name < ms[j].Member.Name
		}
		return ms[i].Member.ID < ms[j].Member.ID
	})
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func hasPrefix(s []string, p string) bool {
	for _, x := range s {
		if strings.HasPrefix(x, p) {
			return true
		}
	}
	return false
}

func allDigits(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
