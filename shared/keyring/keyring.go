// Package keyring protects personal data at rest.
//
// A Keyring seals field values with AES-256-GCM under versioned keys: every
// ciphertext names the key that sealed it, new values are sealed with the
// active key, and retired keys still open old values, so keys rotate without
// a flag day. The additional data binds a ciphertext to its place (tenant and
// field), so a sealed value copied into another record does not open.
//
// An Index computes blind indexes: keyed HMACs of normalised values, so that
// equality lookups and uniqueness work without decrypting anything and
// without the table revealing the values.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Keyring seals and opens values with versioned AES-256-GCM keys.
type Keyring struct {
	active string
	aeads  map[string]cipher.AEAD
}

// New builds a Keyring from 32-byte keys by id; active names the key that
// seals new values.
func New(keys map[string][]byte, active string) (*Keyring, error) {
	if _, ok := keys[active]; !ok {
		return nil, fmt.Errorf("keyring: active key %q is not among the keys", active)
	}
	k := &Keyring{active: active, aeads: make(map[string]cipher.AEAD, len(keys))}
	for id, key := range keys {
		if id == "" || strings.ContainsAny(id, ".") {
			return nil, fmt.Errorf("keyring: bad key id %q", id)
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("keyring: key %q is %d bytes, want 32", id, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.aeads[id] = aead
	}
	return k, nil
}

// Parse builds a Keyring from the JSON held in the data-keys secret:
// {"active":"k2","k1":"<secret text>","k2":"<secret text>"}. Each key's AES
// key is derived from its secret text with HKDF-SHA256, so the secret store
// can generate the texts itself.
func Parse(secret string) (*Keyring, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(secret), &m); err != nil {
		return nil, fmt.Errorf("keyring: the data-keys secret is not a JSON object of strings: %w", err)
	}
	active := m["active"]
	keys := make(map[string][]byte)
	for id, text := range m {
		if id == "active" {
			continue
		}
		if len(text) < 32 {
			return nil, fmt.Errorf("keyring: key %q is shorter than 32 characters", id)
		}
		key, err := hkdf.Key(sha256.New, []byte(text), nil, "workbench data key "+id, 32)
		if err != nil {
			return nil, err
		}
		keys[id] = key
	}
	return New(keys, active)
}

// ErrOpen is returned for a value that does not open: tampered, sealed for
// another place, or sealed with a key this keyring does not have.
var ErrOpen = errors.New("keyring: value does not open")

// Seal encrypts plaintext for the place named by aad. The result is
// "<keyID>.<base64url(nonce|ciphertext)>".
func (k *Keyring) Seal(plaintext, aad string) string {
	aead := k.aeads[k.active]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	rand.Read(nonce)
	sealed := aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
	return k.active + "." + base64.RawURLEncoding.EncodeToString(sealed)
}

// Open decrypts a value sealed by Seal for the same aad.
func (k *Keyring) Open(sealed, aad string) (string, error) {
	id, body, ok := strings.Cut(sealed, ".")
	if !ok {
		return "", ErrOpen
	}
	aead, ok := k.aeads[id]
	if !ok {
		return "", ErrOpen
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", ErrOpen
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(aad))
	if err != nil {
		return "", ErrOpen
	}
	return string(plain), nil
}

// KeyID returns the id of the key that sealed a value, so a re-encryption
// job can find values sealed with retired keys.
func KeyID(sealed string) string {
	id, _, _ := strings.Cut(sealed, ".")
	return id
}

// Active returns the id of the key that seals new values.
func (k *Keyring) Active() string { return k.active }

// KeyIDs lists the ids of every key the keyring holds.
func (k *Keyring) KeyIDs() []string {
	ids := make([]string, 0, len(k.aeads))
	for id := range k.aeads {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Index computes blind indexes with one HMAC-SHA256 key.
type Index struct {
	key []byte
}

// NewIndex derives the blind-index key from the secret text of the index
// secret.
func NewIndex(secret string) (*Index, error) {
	if len(secret) < 32 {
		return nil, errors.New("keyring: the index secret is shorter than 32 characters")
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "workbench blind index", 32)
	if err != nil {
		return nil, err
	}
	return &Index{key: key}, nil
}

// Token returns the blind index of parts, typically (tenant, purpose,
// normalised value). Parts are length-prefixed, so ("ab","c") and ("a","bc")
// differ. The 128-bit result keeps collisions out of reach while keeping
// keys short.
func (ix *Index) Token(parts ...string) string {
	mac := hmac.New(sha256.New, ix.key)
	var n [4]byte
	for _, p := range parts {
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		mac.Write(n[:])
		mac.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}
