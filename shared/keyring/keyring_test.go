package keyring

import (
	"strings"
	"testing"
)

const (
	text1 = "first-key-material-0123456789abcdef"
	text2 = "second-key-material-0123456789abcdef"
)

func TestSealOpenRoundTrip(t *testing.T) {
	k, err := Parse(`{"active":"k1","k1":"` + text1 + `"}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{"", "张三", "13800138000", strings.Repeat("x", 5000)} {
		sealed := k.Seal(plain, "t1|name")
		if plain != "" && strings.Contains(sealed, plain) {
			t.Fatalf("sealed value shows the plaintext: %q", sealed)
		}
		got, err := k.Open(sealed, "t1|name")
		if err != nil || got != plain {
			t.Fatalf("Open(Seal(%q)) = %q, %v", plain, got, err)
		}
	}
}

func TestSealIsRandomised(t *testing.T) {
	k, _ := Parse(`{"active":"k1","k1":"` + text1 + `"}`)
	if first, again := k.Seal("same", "a"), k.Seal("same", "a"); first == again {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
}

func TestOpenRefusesOtherPlaceAndTampering(t *testing.T) {
	k, _ := Parse(`{"active":"k1","k1":"` + text1 + `"}`)
	sealed := k.Seal("13800138000", "t1|mobile")
	if _, err := k.Open(sealed, "t2|mobile"); err != ErrOpen {
		t.Fatalf("opened a value sealed for another tenant: %v", err)
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if tampered == sealed {
		tampered = sealed[:len(sealed)-2] + "BB"
	}
	if _, err := k.Open(tampered, "t1|mobile"); err != ErrOpen {
		t.Fatalf("opened a tampered value: %v", err)
	}
	for _, bad := range []string{"", "k1", "k9.AAAA", "k1.!!!", "k1.AA"} {
		if _, err := k.Open(bad, "t1|mobile"); err != ErrOpen {
			t.Fatalf("Open(%q) = %v, want ErrOpen", bad, err)
		}
	}
}

func TestRotationKeepsOldValuesReadable(t *testing.T) {
	old, _ := Parse(`{"active":"k1","k1":"` + text1 + `"}`)
	sealedOld := old.Seal("alice@example.com", "t|email")

	rotated, err := Parse(`{"active":"k2","k1":"` + text1 + `","k2":"` + text2 + `"}`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.Open(sealedOld, "t|email"); err != nil || got != "alice@example.com" {
		t.Fatalf("rotated keyring cannot open an old value: %q %v", got, err)
	}
	sealedNew := rotated.Seal("bob@example.com", "t|email")
	if KeyID(sealedNew) != "k2" || KeyID(sealedOld) != "k1" {
		t.Fatalf("key ids: new %q old %q", KeyID(sealedNew), KeyID(sealedOld))
	}
	if _, err := old.Open(sealedNew, "t|email"); err != ErrOpen {
		t.Fatal("a keyring without k2 opened a k2 value")
	}
}

func TestParseRejectsBadSecrets(t *testing.T) {
	for _, s := range []string{
		`not json`,
		`{"active":"k2","k1":"` + text1 + `"}`,
		`{"active":"k1","k1":"short"}`,
		`{"active":"k.1","k.1":"` + text1 + `"}`,
	} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%s) succeeded", s)
		}
	}
}

func TestIndexTokens(t *testing.T) {
	ix, err := NewIndex("index-secret-material-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	a := ix.Token("t1", "mobile", "13800138000")
	if a != ix.Token("t1", "mobile", "13800138000") {
		t.Fatal("token is not deterministic")
	}
	if a == ix.Token("t2", "mobile", "13800138000") {
		t.Fatal("tokens of two tenants are equal")
	}
	if ix.Token("ab", "c") == ix.Token("a", "bc") {
		t.Fatal("parts are not separated")
	}
	other, _ := NewIndex("another-index-secret-0123456789abcdef")
	if a == other.Token("t1", "mobile", "13800138000") {
		t.Fatal("token does not depend on the key")
	}
	if strings.Contains(a, "13800138000") || len(a) != 22 {
		t.Fatalf("token %q", a)
	}
	if _, err := NewIndex("short"); err == nil {
		t.Fatal("short index secret accepted")
	}
}
