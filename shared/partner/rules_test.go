package partner

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"sync"
	"testing"

	"workbench/shared/errs"
)

func TestNormalizeProductionURL(t *testing.T) {
	tests := []struct {
		in, want, code string
	}{
		{"https://isv.example.com", "https://isv.example.com", ""},
		{"https://ISV.Example.com:443/callback/", "https://isv.example.com/callback", ""},
		{"https://a-b.example.cn/x/y", "https://a-b.example.cn/x/y", ""},
		{"http://isv.example.com", "", "url_not_https"},
		{"ftp://isv.example.com", "", "url_not_https"},
		{"isv.example.com", "", "url_not_https"},
		{"https://isv.example.com:8443", "", "url_port_not_443"},
		{"https://isv.example.com:80", "", "url_port_not_443"},
		{"https://isv.example.com:", "", "url_port_not_443"},
		{"https://10.0.0.1", "", "url_ip_host"},
		{"https://10.0.0.1:443/x", "", "url_ip_host"},
		{"https://[::1]", "", "url_ip_host"},
		{"https://[::1]:443", "", "url_ip_host"},
		{"https://[::ffff:127.0.0.1]", "", "url_ip_host"},
		{"https://0x7f.1", "", "url_ip_host"},
		{"https://0x7f000001", "", "url_ip_host"},
		{"https://2130706433", "", "url_ip_host"},
		{"https://017700000001", "", "url_ip_host"},
		{"https://0177.0.0.1", "", "url_ip_host"},
		{"https://127.1", "", "url_ip_host"},
		{"https://localhost", "", "url_localhost"},
		{"https://LOCALHOST:443", "", "url_localhost"},
		{"https://api.localhost", "", "url_localhost"},
		{"https://intranet", "", "url_not_domain"},
		{"https://user:pw@isv.example.com", "", "url_has_userinfo"},
		{"https://user@isv.example.com", "", "url_has_userinfo"},
		{"https://isv.example.com/cb?x=1", "", "url_has_query"},
		{"https://isv.example.com/cb?", "", "url_has_query"},
		{"https://isv.example.com/cb#frag", "", "url_has_fragment"},
		{"https://isv.example.com/cb#", "", "url_has_fragment"},
		{"https://isv_bad.example.com", "", "url_not_domain"},
		{"https://-isv.example.com", "", "url_not_domain"},
		{"https://例子.example.com", "", "url_not_domain"},
		{"", "", "url_required"},
		{"https://", "", "url_no_host"},
		{"https://%31%30.0.0.1", "", "url_invalid"},
	}
	for _, tt := range tests {
		got, err := NormalizeProductionURL("productionUrl", tt.in)
		if tt.code == "" {
			if err != nil || got != tt.want {
				t.Errorf("NormalizeProductionURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		e := errs.As(err)
		if err == nil || e.Kind != errs.Invalid || e.Field != "productionUrl" {
			t.Errorf("NormalizeProductionURL(%q) = %q, %v; want a 400 on productionUrl", tt.in, got, err)
			continue
		}
		if e.Code != tt.code && !(tt.code == "url_invalid" && strings.HasPrefix(e.Code, "url_")) {
			t.Errorf("NormalizeProductionURL(%q) code %s, want %s", tt.in, e.Code, tt.code)
		}
		if !strings.Contains(e.Message, "productionUrl") {
			t.Errorf("message %q does not name the field", e.Message)
		}
	}
}

var (
	keysOnce sync.Once
	key3072  *rsa.PrivateKey
	key2048  *rsa.PrivateKey
)

func testKeys(t *testing.T) {
	keysOnce.Do(func() {
		var err error
		if key3072, err = rsa.GenerateKey(rand.Reader, 3072); err != nil {
			t.Fatal(err)
		}
		if key2048, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	})
}

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestParsePublicKey(t *testing.T) {
	testKeys(t)
	pkix3072, _ := x509.MarshalPKIXPublicKey(&key3072.PublicKey)
	pkix2048, _ := x509.MarshalPKIXPublicKey(&key2048.PublicKey)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	tests := []struct {
		name, in, code string
	}{
		{"pkix 3072", pemOf("PUBLIC KEY", pkix3072), ""},
		{"pkcs1 3072", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&key3072.PublicKey)), ""},
		{"pkix 2048", pemOf("PUBLIC KEY", pkix2048), "public_key_too_short"},
		{"pkcs1 2048", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&key2048.PublicKey)), "public_key_too_short"},
		{"ec", pemOf("PUBLIC KEY", ecDER), "public_key_not_rsa"},
		{"private key", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key2048)), "public_key_not_pem"},
		{"not pem", "ssh-rsa AAAAB3NzaC1yc2E", "public_key_not_pem"},
		{"empty", "", "public_key_not_pem"},
		{"garbage body", pemOf("PUBLIC KEY", []byte("nonsense")), "public_key_invalid"},
		{"two blocks", pemOf("PUBLIC KEY", pkix3072) + pemOf("PUBLIC KEY", pkix3072), "public_key_not_pem"},
	}
	for _, tt := range tests {
		_, err := ParsePublicKey("publicKey", tt.in)
		if tt.code == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if e := errs.As(err); err == nil || e.Code != tt.code || e.Field != "publicKey" || e.Kind != errs.Invalid {
			t.Errorf("%s: err %v, want 400 %s", tt.name, err, tt.code)
		}
	}
}

func TestEncryptSecretDecryptsWithPrivateKey(t *testing.T) {
	testKeys(t)
	enc, err := EncryptSecret(&key3072.PublicKey, "s3cret-value")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(enc, "s3cret") {
		t.Fatal("secret in clear")
	}
	ct, _ := b64(enc)
	plain, err := rsa.DecryptOAEP(sha256.New(), nil, key3072, ct, nil)
	if err != nil || string(plain) != "s3cret-value" {
		t.Fatalf("decrypt = %q, %v", plain, err)
	}
}

func TestSignMatchesProtocol(t *testing.T) {
	body := []byte(`{"flag":1}`)
	mac := hmac.New(sha256.New, []byte("ak"))
	mac.Write([]byte("ak" + "nonce-0123456789ab" + "1700000000000" + `{"flag":1}`))
	want := strings.ToUpper(hex.EncodeToString(mac.Sum(nil)))
	if got := Sign("ak", "nonce-0123456789ab", "1700000000000", body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if got := Sign("ak", "nonce-0123456789ab", "1700000000000", []byte(`{"flag":2}`)); got == want {
		t.Fatal("signature does not cover the body")
	}
}

func TestRandomTokenLength(t *testing.T) {
	// clientSecret is 32 random bytes.
	if b, err := b64url(randomToken(32)); err != nil || len(b) != 32 {
		t.Fatalf("randomToken(32) decodes to %d bytes, %v", len(b), err)
	}
}
