package partner_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"workbench/shared/partner"
)

// verifySign is the partner-side check published in docs/partners.md.
func verifySign(accessKey, timestamp, nonce, sign string, body []byte, now time.Time, seen map[string]bool) error {
	mac := hmac.New(sha256.New, []byte(accessKey))
	mac.Write([]byte(accessKey + nonce + timestamp))
	mac.Write(body)
	want := strings.ToUpper(hex.EncodeToString(mac.Sum(nil)))
	if subtle.ConstantTimeCompare([]byte(want), []byte(sign)) != 1 {
		return errors.New("000001: bad signature")
	}
	ms, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || now.Sub(time.UnixMilli(ms)).Abs() > 60*time.Second {
		return errors.New("000001: stale timestamp")
	}
	if len(nonce) < 16 || seen[nonce] {
		return errors.New("000001: replayed nonce")
	}
	seen[nonce] = true
	return nil
}

// decryptClientSecret is the partner-side decryption of applicationSync's
// clientSecret published in docs/partners.md.
func decryptClientSecret(priv *rsa.PrivateKey, clientSecret string) (string, error) {
	ct, err := base64.StdEncoding.DecodeString(clientSecret)
	if err != nil {
		return "", err
	}
	plain, err := rsa.DecryptOAEP(sha256.New(), rand.Reader, priv, ct, nil)
	return string(plain), err
}

// Example checks the docs' partner-side code against the platform's own
// signing and encryption.
func Example() {
	priv := partnerKey()
	body := []byte(`{"flag":1,"tenantId":"t1","testFlag":0,"timeStamp":1767225600000}`)
	now := time.Now()
	h := http.Header{}
	partner.SignHeaders(h, "my-access-key", now, body)
	get := h.Get
	seen := map[string]bool{}
	fmt.Println(verifySign("my-access-key", get("X-Timestamp"), get("X-Nonce"), get("X-Sign"), body, now, seen))
	fmt.Println(verifySign("my-access-key", get("X-Timestamp"), get("X-Nonce"), get("X-Sign"), body, now, seen))
	fmt.Println(verifySign("other-key", get("X-Timestamp"), get("X-Nonce"), get("X-Sign"), body, now, map[string]bool{}))

	enc, _ := partner.EncryptSecret(&priv.PublicKey, "the-client-secret")
	secret, err := decryptClientSecret(priv, enc)
	fmt.Println(secret, err)
	// Output:
	// <nil>
	// 000001: replayed nonce
	// 000001: bad signature
	// the-client-secret <nil>
}
