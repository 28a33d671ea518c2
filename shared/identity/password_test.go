package identity

import (
	"strings"
	"testing"
	"time"

	"workbench/shared/errs"
)

func TestPasswordHashRoundTrip(t *testing.T) {
	p := Argon2Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16} // cheap for the test
	h := p.HashPassword("correct horse battery")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("encoding %q does not carry its parameters", h)
	}
	if !CheckPassword(h, "correct horse battery") {
		t.Error("right password refused")
	}
	if CheckPassword(h, "correct horse batterx") {
		t.Error("wrong password accepted")
	}
	if h == p.HashPassword("correct horse battery") {
		t.Error("two hashes of one password are equal: salt missing")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "garbage"} {
		if CheckPassword(bad, "x") {
			t.Errorf("CheckPassword(%q) accepted", bad)
		}
	}
	if !CheckPassword(dummyHash, "workbench-dummy-password") {
		t.Error("the dummy hash does not verify")
	}
	// An unknown account must cost what a known one does: the dummy hash
	// has the parameters new hashes get.
	fresh := strings.Split(DefaultArgon2.HashPassword("x"), "$")
	if dummy := strings.Split(dummyHash, "$"); strings.Join(dummy[:4], "$") != strings.Join(fresh[:4], "$") ||
		len(dummy[4]) != len(fresh[4]) || len(dummy[5]) != len(fresh[5]) {
		t.Errorf("dummyHash %s has other parameters than DefaultArgon2's %s: compute it again", dummyHash, strings.Join(fresh[:4], "$"))
	}
}

func TestPasswordPolicy(t *testing.T) {
	tests := []struct {
		pw, code string
	}{
		{"", "invalid_password"},
		{"short7!", "password_too_short"},
		{strings.Repeat("x", 129), "password_too_long"},
		{"ZhangSan", "password_is_account"},
		{"13800138000", "password_is_mobile"},
		{"+8613800138000", "password_is_mobile"},
		{"12345678", ""},
		{strings.Repeat("密", 8), ""},
		{strings.Repeat("x", 128), ""},
	}
	for _, tt := range tests {
		err := CheckPasswordPolicy("password", tt.pw, "zhangsan", "13800138000")
		if tt.code == "" && err != nil || tt.code != "" && !errs.Is(err, tt.code) {
			t.Errorf("policy(%q) = %v, want %q", tt.pw, err, tt.code)
		}
		if err != nil && errs.As(err).Field != "password" {
			t.Errorf("policy(%q) names field %q", tt.pw, errs.As(err).Field)
		}
	}
}

func TestOneTimePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		p := newOneTimePassword()
		if len(p) != OneTimePasswordLen || strings.Trim(p, otpAlphabet) != "" {
			t.Fatalf("one-time password %q", p)
		}
		if seen[p] {
			t.Fatal("repeated one-time password")
		}
		seen[p] = true
	}
}

func TestRefreshTokenFormat(t *testing.T) {
	tok := newRefreshToken("t1", "m1", "s1", 3)
	p, ok := parseRefreshToken(tok)
	if !ok || p != (refreshParts{"t1", "m1", "s1", 3}) {
		t.Fatalf("parse(%q) = %+v %v", tok, p, ok)
	}
	for _, bad := range []string{"", "a.b.c.d", "t.m.s.0." + strings.Repeat("A", 43), "t.m.s.x." + strings.Repeat("A", 43), "t.m.s.1.short", ".m.s.1." + strings.Repeat("A", 43)} {
		if _, ok := parseRefreshToken(bad); ok {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}

func TestCodes(t *testing.T) {
	for _, c := range []string{"", "12345", "1234567", "12345a", "１２３４５６"} {
		if err := checkCodeFormat("code", c); errs.As(err).Field != "code" {
			t.Errorf("code %q: %v", c, err)
		}
	}
	seen := map[string]bool{}
	for range 50 {
		c := newCode()
		if checkCodeFormat("code", c) != nil {
			t.Fatalf("newCode() = %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 40 {
		t.Errorf("codes repeat too often: %d distinct of 50", len(seen))
	}
}

func TestMaskAccount(t *testing.T) {
	for in, want := range map[string]string{"": "", "ab": "**", "abcd": "a***", "zhangsan": "zh*****n"} {
		if got := maskAccount(in); got != want {
			t.Errorf("maskAccount(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseLogFilter(t *testing.T) {
	ok := map[string][]string{"member": {"m1"}, "result": {"failure"}, "from": {"2026-01-01T00:00:00Z"}, "to": {"2026-01-02T00:00:00+08:00"}, "limit": {"10"}}
	f, err := ParseLogFilter(ok)
	if err != nil || f.MemberID != "m1" || f.Result != "failure" || f.Limit != 10 || f.To.Hour() != 16 {
		t.Fatalf("ParseLogFilter = %+v, %v", f, err)
	}
	for field, q := range map[string]map[string][]string{
		"result": {"result": {"maybe"}},
		"from":   {"from": {"yesterday"}},
		"to":     {"from": {"2026-01-02T00:00:00Z"}, "to": {"2026-01-01T00:00:00Z"}},
		"limit":  {"limit": {"0"}},
	} {
		if _, err := ParseLogFilter(q); errs.As(err).Field != field || errs.KindOf(err) != errs.Invalid {
			t.Errorf("%v: %v, want 400 on %s", q, err, field)
		}
	}
}

// BenchmarkArgon2id is the cost of one password hash (or check) with the
// default parameters, reported in ms.
func BenchmarkArgon2id(b *testing.B) {
	start := time.Now()
	for i := 0; i < b.N; i++ {
		DefaultArgon2.HashPassword("correct horse battery staple")
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/hash")
}
