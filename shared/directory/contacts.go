package directory

import (
	"context"
	"math"
	"slices"
	"sort"
	"time"

	"workbench/shared/errs"
)

// Contacts ranks each member's frequent contacts by a decayed score: every
// contact (a message sent, a manual add) adds weight that halves every
// ScoreHalfLife, so frequency and recency both count. The score is stored
// scaled to a fixed epoch (weight 2^((t-epoch)/halfLife)), which makes a
// contact a single atomic add and keeps the order the same at any later
// time; the score shown is rescaled to now.
type Contacts struct {
	Store   ContactStore
	Members *Service // nil for Touch alone (chat)
	Now     func() time.Time
}

// ContactStore keeps the frequent-contact entries of members.
type ContactStore interface {
	// AddContact adds w to the score of contactID among memberID's
	// entries and counts one contact at `at`, atomically; manual marks the
	// entry added by hand (for good).
	AddContact(ctx context.Context, tenantID, memberID, contactID string, at time.Time, w float64, manual bool) error
	RemoveContact(ctx context.Context, tenantID, memberID, contactID string) error
	// ContactEntries returns memberID's entries, in no order, stopping once
	// it has at least limit.
	ContactEntries(ctx context.Context, tenantID, memberID string, limit int) ([]ContactEntry, error)
}

// ContactEntry is a stored frequent contact: its score scaled to the
// epoch.
type ContactEntry struct {
	ID     string
	Score  float64
	Count  int
	LastAt time.Time
	Manual bool
}

// Frequent-contact tuning.
const (
	ScoreHalfLife   = 14 * 24 * time.Hour
	ManualWeight    = 5  // a manual add counts as five contacts now
	MaxFrequent     = 20 // the list shows the top 20
	maxTouch        = 50 // contacts touched per message (a big group touches its first 50)
	maxContactItems = 1000
	// spareContacts are read beyond MaxFrequent: some may have left the
	// tenant.
	spareContacts = 10
)

var scoreEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func weight(at time.Time) float64 {
	return math.Exp2(float64(at.Sub(scoreEpoch)) / float64(ScoreHalfLife))
}

// Contact is one entry of a member's frequent contacts.
type Contact struct {
	Member Member    `json:"member"`
	Score  float64   `json:"score"`
	Count  int       `json:"count"`
	LastAt time.Time `json:"lastAt"`
	Manual bool      `json:"manual"`
}

// Touch records that memberID contacted contactIDs at a time (chat calls it
// for every message sent). Unknown ids cost nothing but an entry the list
// never shows; the member itself is skipped.
func (c *Contacts) Touch(ctx context.Context, tenantID, memberID string, contactIDs []string, at time.Time) error {
	for _, id := range touched(memberID, contactIDs) {
		if err := c.Store.AddContact(ctx, tenantID, memberID, id, at, weight(at), false); err != nil {
			return err
		}
	}
	return nil
}

// touched is whom a message from memberID to contactIDs counts for: the
// first maxTouch ids that are neither empty nor the sender.
func touched(memberID string, contactIDs []string) []string {
	var out []string
	for _, id := range contactIDs {
		if id != "" && id != memberID && len(out) < maxTouch {
			out = append(out, id)
		}
	}
	return out
}

// Add puts a member among memberID's frequent contacts by hand.
func (c *Contacts) Add(ctx context.Context, tenantID, memberID, contactID string) error {
	if contactID == memberID {
		return errs.Invalidf("memberId", "invalid_contact", "a member is not their own frequent contact")
	}
	if _, err := c.Members.Member(ctx, tenantID, contactID); err != nil {
		return err
	}
	now := c.Now().UTC()
	return c.Store.AddContact(ctx, tenantID, memberID, contactID, now, ManualWeight*weight(now), true)
}

// Remove takes a contact off memberID's list (a later message puts it back).
func (c *Contacts) Remove(ctx context.Context, tenantID, memberID, contactID string) error {
	return c.Store.RemoveContact(ctx, tenantID, memberID, contactID)
}

// List returns memberID's top frequent contacts, best first.
func (c *Contacts) List(ctx context.Context, tenantID, memberID string) ([]Contact, error) {
	entries, err := c.Store.ContactEntries(ctx, tenantID, memberID, maxContactItems)
	if err != nil {
		return nil, err
	}
	entries = ranked(entries, MaxFrequent+spareContacts)
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	members, err := c.Members.Members(ctx, tenantID, ids)
	if err != nil {
		return nil, err
	}
	return shown(entries, members, c.Now().UTC()), nil
}

// ranked sorts entries best first (ties by id, so the order is stable)
// and keeps the first n.
func ranked(entries []ContactEntry, n int) []ContactEntry {
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].Score != entries[j].Score {
			return entries[i].Score > entries[j].Score
		}
		return entries[i].ID < entries[j].ID
	})
	return entries[:min(len(entries), n)]
}

// shown is the list of ranked entries whose members are still there (in
// members), at most MaxFrequent, with scores rescaled to now.
func shown(entries []ContactEntry, members []Member, now time.Time) []Contact {
	scale := 1 / weight(now)
	out := []Contact{}
	for _, e := range entries {
		i := slices.IndexFunc(members, func(m Member) bool { return m.ID == e.ID })
		if i < 0 || len(out) == MaxFrequent {
			continue
		}
		out = append(out, Contact{Member: members[i], Score: math.Round(e.Score*scale*1000) / 1000, Count: e.Count, LastAt: e.LastAt, Manual: e.Manual})
	}
	return out
}
