// Package ids makes identifiers: lower-case ULIDs, unique and ordered by
// the time they were made, so items keyed by them sort by creation.
package ids

import (
	"crypto/rand"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

var (
	mu      sync.Mutex
	entropy = ulid.Monotonic(rand.Reader, 0)
)

// New returns a fresh id stamped with t.
func New(t time.Time) string {
	mu.Lock()
	defer mu.Unlock()
	return strings.ToLower(ulid.MustNew(ulid.Timestamp(t), entropy).String())
}
