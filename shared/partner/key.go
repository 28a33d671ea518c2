package partner

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"

	"workbench/shared/errs"
)

// MinKeyBits is the smallest RSA modulus accepted for an app's public key.
const MinKeyBits = 3072

// ParsePublicKey reads an app's public key: one PEM block holding an RSA
// key of at least MinKeyBits bits, as PKIX ("PUBLIC KEY") or PKCS#1 ("RSA
// PUBLIC KEY"). Anything else is a 400 naming field.
func ParsePublicKey(field, text string) (*rsa.PublicKey, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errs.Invalidf(field, "public_key_not_pem", "%s must be a PEM-encoded RSA public key", field)
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, errs.Invalidf(field, "public_key_not_pem", "%s must hold exactly one PEM block", field)
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, errs.Invalidf(field, "public_key_not_pem", "%s must be a PEM \"PUBLIC KEY\" or \"RSA PUBLIC KEY\", not %q", field, block.Type)
	}
	if err != nil {
		return nil, errs.Invalidf(field, "public_key_invalid", "%s does not parse as a public key", field)
	}
	key, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, errs.Invalidf(field, "public_key_not_rsa", "%s must be an RSA key", field)
	}
	if key.N.BitLen() < MinKeyBits {
		return nil, errs.Invalidf(field, "public_key_too_short", "%s must be at least %d bits, not %d", field, MinKeyBits, key.N.BitLen())
	}
	return key, nil
}

// EncryptSecret encrypts secret for the partner: RSA-OAEP with SHA-256 (no
// label) under its public key, standard base64.
func EncryptSecret(pub *rsa.PublicKey, secret string) (string, error) {
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, []byte(secret), nil)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
