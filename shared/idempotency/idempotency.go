// Package idempotency makes retried creates safe: a POST that carries an
// Idempotency-Key header runs once per key, and a retry with the same key
// and body gets the first answer back (status, body, Content-Type and
// Location) without a second write.
//
// Keys are scoped to the caller (a tenant's member, the platform operator,
// a partner by its key, or what a public route's body names: a
// registration's tenant, invitation and mobile) and to the method and path,
// so two callers or two routes never share a key. A record lives 24 hours.
//
// What is kept: every answer below 500 except 401, 403, 408, 423 and 429,
// which depend on the caller's session, the tenant's subscription or time,
// so a retry may rightly get another answer. A 5xx (and a timeout, which
// never completes) is not kept: the record is released so that the retry
// runs again. While the first request is still running, a retry answers 409
// idempotency_in_progress with Retry-After; a request that died without
// releasing its claim (a killed process) gives the key up after Lock.
package idempotency

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"workbench/shared/errs"
	"workbench/shared/httpapi"
)

// Header is the request header carrying the key.
const Header = "Idempotency-Key"

// MaxKeyLength bounds a key; 255 is what clients generating UUIDs, ULIDs or
// base64 digests need with room to spare.
const MaxKeyLength = 255

const (
	// DefaultTTL is how long a key and its answer are kept.
	DefaultTTL = 24 * time.Hour
	// DefaultLock is how long a claim blocks retries when its request never
	// finishes: well past the functions' 10 s timeout.
	DefaultLock = 30 * time.Second
	// maxStoredBody keeps a record within DynamoDB's 400 KB item limit.
	maxStoredBody = 300 << 10
	// maxRequestBody is what is read to fingerprint a request: all of any
	// body a Lambda function can be sent (6 MB), member import files
	// included, so two uploads that differ only at the end never share a
	// fingerprint.
	maxRequestBody = 6 << 20
)

// Scope names the caller of r ("" when the request carries no credential
// to scope a key to: the header is then ignored and the request served as
// it is). It must not trust anything the handler will not check again.
type Scope func(r *http.Request) string

// Answer is a completed request's response.
type Answer struct {
	Status int
	Header map[string]string // Content-Type and Location
	Body   []byte
}

// Record is what a claim found already stored under a key.
type Record struct {
	Fingerprint string
	Done        bool
	Answer      Answer
}

// Store keeps claims and answers. Claim stores a pending claim for id
// unless a live record is there, which it returns (nil when claimed).
type Store interface {
	Claim(ctx context.Context, id, fingerprint, token string, now time.Time, lock, ttl time.Duration) (*Record, error)
	Complete(ctx context.Context, id, token string, a Answer) error
	Release(ctx context.Context, id, token string) error
}

// Middleware applies idempotency keys to the POST requests of a handler.
type Middleware struct {
	Store Store
	Scope Scope
	Now   func() time.Time
	TTL   time.Duration // DefaultTTL when zero
	Lock  time.Duration // DefaultLock when zero
}

// Wrap returns h with idempotency keys honoured.
func (m *Middleware) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(Header)
		if r.Method != http.MethodPost || key == "" && len(r.Header.Values(Header)) == 0 {
			h.ServeHTTP(w, r)
			return
		}
		scope := m.Scope(r)
		if scope == "" {
			h.ServeHTTP(w, r)
			return
		}
		if err := m.serve(w, r, h, scope, key); err != nil {
			httpapi.WriteError(w, r, err)
		}
	})
}

// CheckKey reports whether key is usable: 1 to MaxKeyLength visible ASCII
// characters (no spaces), e.g. a UUID.
func CheckKey(key string) error {
	if key == "" || len(key) > MaxKeyLength {
		return errs.Invalidf(Header, "invalid_idempotency_key", "the %s header must be 1 to %d characters", Header, MaxKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return errs.Invalidf(Header, "invalid_idempotency_key", "the %s header may hold only visible ASCII characters, e.g. a UUID", Header)
		}
	}
	return nil
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, h http.Handler, scope, key string) error {
	if len(r.Header.Values(Header)) > 1 {
		return errs.Invalidf(Header, "invalid_idempotency_key", "send one %s header", Header)
	}
	if err := CheckKey(key); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		return errs.Invalidf("", "unreadable_body", "the request body could not be read")
	}
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))

	id := RecordID(scope, r.Method, r.URL.Path, key)
	fp := fingerprint(r, body)
	token := newToken()
	now := m.Now()
	rec, err := m.Store.Claim(r.Context(), id, fp, token, now, or(m.Lock, DefaultLock), or(m.TTL, DefaultTTL))
	if err != nil {
		return errs.Wrap(err, "idempotency: claim")
	}
	if rec != nil {
		return replay(w, rec, fp)
	}
	// Whatever happens below, a claim that is not completed is released,
	// so that a retry can run.
	completed := false
	defer func() {
		if !completed {
			if err := m.Store.Release(context.WithoutCancel(r.Context()), id, token); err != nil {
				slog.ErrorContext(r.Context(), "idempotency: release failed", "error", err)
			}
		}
	}()
	rw := &recorder{header: http.Header{}, status: http.StatusOK}
	h.ServeHTTP(rw, r)
	if kept(rw.status) && rw.body.Len() <= maxStoredBody {
		a := Answer{Status: rw.status, Header: map[string]string{}, Body: rw.body.Bytes()}
		for _, name := range []string{"Content-Type", "Location"} {
			if v := rw.header.Get(name); v != "" {
				a.Header[name] = v
			}
		}
		if err := m.Store.Complete(context.WithoutCancel(r.Context()), id, token, a); err != nil {
			// The write happened: answer it. The claim stays pending until
			// its lock runs out, so a retry before then is refused, not
			// run twice.
			slog.ErrorContext(r.Context(), "idempotency: complete failed", "error", err)
		}
		completed = true
	}
	rw.flush(w)
	return nil
}

// replay answers a retry from what the first request left.
func replay(w http.ResponseWriter, rec *Record, fp string) error {
	if rec.Fingerprint != fp {
		return errs.E(errs.Unprocessable, "idempotency_key_reused",
			"this %s was used with another request; use a new key for a new request", Header)
	}
	if !rec.Done {
		e := errs.E(errs.Conflict, "idempotency_in_progress", "a request with this %s is still being processed; retry later", Header)
		e.RetryAfter = time.Second
		return e
	}
	for name, v := range rec.Answer.Header {
		w.Header().Set(name, v)
	}
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(rec.Answer.Status)
	_, _ = w.Write(rec.Answer.Body) // the status is sent: a client that went away cannot be told more
	return nil
}

// kept reports whether an answer with status is stored for replay.
func kept(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout,
		http.StatusLocked, http.StatusTooManyRequests:
		return false
	}
	return status < 500
}

// RecordID is the stored id of key for a caller and route. The key is
// hashed so that a long key never makes a long partition key.
func RecordID(scope, method, path, key string) string {
	sum := sha256.Sum256([]byte(method + " " + path + "\n" + key))
	return scope + "#" + hex.EncodeToString(sum[:])
}

// fingerprint identifies a request's content: its query and body, byte
// for byte.
func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	h.Write([]byte(r.URL.RawQuery))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// recorder buffers a response so that it is stored before the caller
// sees it: a client that has the answer can then always replay it.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	w.wrote = true
	return w.body.Write(b)
}

func (w *recorder) flush(dst http.ResponseWriter) {
	for name, vs := range w.header {
		dst.Header()[name] = vs
	}
	dst.Header().Set("Content-Length", strconv.Itoa(w.body.Len()))
	dst.WriteHeader(w.status)
	_, _ = dst.Write(w.body.Bytes()) // the status is sent: a client that went away cannot be told more
}
