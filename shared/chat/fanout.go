package chat

import (
	"context"
	"sync"
	"time"
)

// Moved is a conversation whose newest message its members' list places
// must reach: a large group's head as the table's stream reports it.
type Moved struct {
	TenantID       string
	ConversationID string
	Seq            int64
	At             time.Time
}

// movedOf is the Moved of a head's write, ok when the head is a group's
// whose sequence moved and whose send did not update its members' entries
// itself (a group without a fan-out list: large, or made before the list
// index).
func movedOf(tenantID, convID string, before, after headRecord) (Moved, bool, error) {
	if after.Kind != Group || len(after.Fanout) > 0 || after.Seq <= before.Seq {
		return Moved{}, false, nil
	}
	return Moved{TenantID: tenantID, ConversationID: convID, Seq: after.Seq, At: after.LastAt}, true, nil
}

// FanoutStore is the storage of the fan-out (DynamoStore).
type FanoutStore interface {
	// ListPlaces reads the list places of a conversation's entries.
	ListPlaces(ctx context.Context, tenantID, convID string) ([]entryRecord, error)
	// MoveEntry moves a member's entry to m's place, unless it is there
	// or further already, hidden since, or gone: then false.
	MoveEntry(ctx context.Context, m Moved, memberID string) (bool, error)
}

// Fanout moves the list places of large groups' members to their newest
// message, from the chat table's stream, so that a send to a group of 500
// stays 2 round trips: the list order of large groups follows their
// messages eventually (within the stream's delay), small ones at once.
type Fanout struct {
	Store   FanoutStore
	Workers int // concurrent entry updates; 8 when zero
}

// FanoutResult counts what a fan-out did.
type FanoutResult struct {
	Conversations int `json:"conversations"`
	Entries       int `json:"entries"` // entries moved
}

// Apply moves the entries of each conversation once, to the newest of its
// changes (a burst of messages costs one write per member). Every write is
// conditional on the entry's place being older and the entry not hidden
// since, so a late or repeated batch never moves a place back.
func (f *Fanout) Apply(ctx context.Context, changes []Moved) (FanoutResult, error) {
	newest := map[string]Moved{}
	var order []string
	for _, c := range changes {
		k := c.TenantID + "#" + c.ConversationID
		prev, seen := newest[k]
		if !seen {
			order = append(order, k)
		}
		if !seen || c.Seq > prev.Seq {
			newest[k] = c
		}
	}
	var res FanoutResult
	for _, k := range order {
		n, err := f.move(ctx, newest[k])
		res.Conversations++
		res.Entries += n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// behind are the members whose entries' places are older than m.
func (f *Fanout) behind(ctx context.Context, m Moved) ([]string, error) {
	entries, err := f.Store.ListPlaces(ctx, m.TenantID, m.ConversationID)
	var out []string
	for _, e := range entries {
		if e.LastSeq < m.Seq && (e.HiddenSeq == nil || *e.HiddenSeq < m.Seq) {
			out = append(out, e.MemberID)
		}
	}
	return out, err
}

func (f *Fanout) move(ctx context.Context, m Moved) (int, error) {
	members, err := f.behind(ctx, m)
	if err != nil {
		return 0, err
	}
	workers := f.Workers
	if workers <= 0 {
		workers = 8
	}
	var (
		mu    sync.Mutex
		moved int
		first error
		wg    sync.WaitGroup
	)
	next := make(chan string)
	for range min(workers, len(members)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				ok, err := f.Store.MoveEntry(ctx, m, id)
				mu.Lock()
				if ok {
					moved++
				}
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, id := range members {
		next <- id
	}
	close(next)
	wg.Wait()
	return moved, first
}
