package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"workbench/shared/errs"
)

// Password limits. The minimum is the floor the API enforces; 12 or more is
// what the README recommends to people.
const (
	MinPasswordRunes = 8
	MaxPasswordRunes = 128
)

// Argon2Params are the argon2id cost parameters. They are stored with every
// hash, so raising them later affects only new hashes and old ones keep
// verifying.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	KeyLen  uint32
	SaltLen uint32
}

// DefaultArgon2 is OWASP's minimum for argon2id: m=19 MiB, t=2, p=1.
var DefaultArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

// HashPassword returns the PHC-style encoding of an argon2id hash of pw:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func (p Argon2Params) HashPassword(pw string) string {
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	sum := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum))
}

// CheckPassword reports whether pw matches an encoded hash, with the
// parameters the hash names.
func CheckPassword(encoded, pw string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 {
		return false
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when the account is unknown, so that an
// unknown account costs the same time as a wrong password. It is a
// constant, not computed at package init, because one argon2id hash is
// tens of milliseconds of every cold start of every function that links
// this package; its parameters must stay DefaultArgon2's (a test checks),
// since the parameters, not the salt, set the cost. It is
// DefaultArgon2.HashPassword("workbench-dummy-password").
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$FfJCKGhdFnyEf3wYOdttrQ$fA5PoX3BBFkoZvQKePgcmzILMeTJPzI8/P8fEH9gbSg"

// CheckPasswordPolicy applies the password rules: 8–128 characters, not the
// member's account or mobile.
func CheckPasswordPolicy(field, pw, account, mobile string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n == 0:
		return errs.Invalidf(field, "invalid_password", "%s is required", field)
	case !utf8.ValidString(pw):
		return errs.Invalidf(field, "invalid_password", "%s must be valid UTF-8 text", field)
	case n < MinPasswordRunes:
		return errs.Invalidf(field, "password_too_short", "%s must be at least %d characters (12 or more recommended)", field, MinPasswordRunes)
	case n > MaxPasswordRunes:
		return errs.Invalidf(field, "password_too_long", "%s must be at most %d characters", field, MaxPasswordRunes)
	case account != "" && strings.EqualFold(pw, account):
		return errs.Invalidf(field, "password_is_account", "%s must not be the login account", field)
	case mobile != "" && (pw == mobile || pw == "+86"+mobile || pw == "86"+mobile):
		return errs.Invalidf(field, "password_is_mobile", "%s must not be the mobile number", field)
	}
	return nil
}

// otpAlphabet leaves out characters that are easily confused on a phone
// screen (0/O, 1/l/I).
const otpAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"

// OneTimePasswordLen is the length of an admin-reset password: 16 symbols
// of a 56-letter alphabet, about 93 bits.
const OneTimePasswordLen = 16

func newOneTimePassword() string {
	b := make([]byte, OneTimePasswordLen)
	max := byte(256 - 256%len(otpAlphabet))
	for i := 0; i < len(b); {
		var r [32]byte
		rand.Read(r[:])
		for _, c := range r {
			if c < max && i < len(b) {
				b[i] = otpAlphabet[int(c)%len(otpAlphabet)]
				i++
			}
		}
	}
	return string(b)
}
