package partner

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"workbench/shared/errs"
)

// Signature headers of PARTNER-PROTOCOL.md.
const (
	HeaderSign      = "x-sign"
	HeaderTimestamp = "x-timestamp"
	HeaderNonce     = "x-nonce"
)

// MinNonceLen is the shortest nonce accepted and the length of ours.
const MinNonceLen = 16

// Sign returns x-sign for a call: upper-case hex of HMAC-SHA256 keyed with
// accessKey over accessKey + nonce + timestamp + body.
func Sign(accessKey, nonce, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(accessKey))
	mac.Write([]byte(accessKey))
	mac.Write([]byte(nonce))
	mac.Write([]byte(timestamp))
	mac.Write(body)
	return strings.ToUpper(hex.EncodeToString(mac.Sum(nil)))
}

// SignHeaders sets the signature headers of an outbound call made at now.
func SignHeaders(h http.Header, accessKey string, now time.Time, body []byte) {
	nonce := randomToken(18) // 24 characters
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderSign, Sign(accessKey, nonce, ts, body))
}

// Nonces remembers the nonces of inbound calls until they could no longer
// pass the time window. Remember fails with a Conflict when the nonce was
// seen already; it must be atomic (a conditional write).
type Nonces interface {
	Remember(ctx context.Context, nonce string, now, until time.Time) error
}

// Verifier checks inbound signed calls (the marketplace's).
type Verifier struct {
	Key    string
	Window time.Duration // 60 s when zero
	Nonces Nonces
	Now    func() time.Time
}

var errBadSignature = errs.E(errs.Unauthenticated, "invalid_signature", "the x-sign signature does not match")

// Verify accepts a call whose signature matches, whose timestamp is within
// the window and whose nonce is new. The signature is checked before the
// nonce is remembered, so forged calls cannot burn nonces.
func (v *Verifier) Verify(ctx context.Context, h http.Header, body []byte) error {
	window := v.Window
	if window <= 0 {
		window = 60 * time.Second
	}
	ts, nonce, sign := h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSign)
	if ts == "" || nonce == "" || sign == "" {
		return errs.E(errs.Unauthenticated, "missing_signature", "x-timestamp, x-nonce and x-sign are required")
	}
	if len(nonce) < MinNonceLen || len(nonce) > 128 {
		return errs.E(errs.Unauthenticated, "invalid_nonce", "x-nonce must be %d to 128 characters", MinNonceLen)
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errs.E(errs.Unauthenticated, "invalid_timestamp", "x-timestamp must be Unix milliseconds")
	}
	now := v.Now()
	at := time.UnixMilli(ms)
	if at.Before(now.Add(-window)) || at.After(now.Add(window)) {
		return errs.E(errs.Unauthenticated, "stale_timestamp", "x-timestamp is more than %s away from now", window)
	}
	want := Sign(v.Key, nonce, ts, body)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToUpper(sign))) != 1 {
		return errBadSignature
	}
	if err := v.Nonces.Remember(ctx, nonce, now, now.Add(2*window)); err != nil {
		if errs.KindOf(err) == errs.Conflict {
			return errs.E(errs.Unauthenticated, "replayed_nonce", "this x-nonce was used already")
		}
		return err
	}
	return nil
}
