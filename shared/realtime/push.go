package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/chat"
	"workbench/shared/errs"
	"workbench/shared/notice"
)

// Sources of stream records.
const (
	SourceChat    = "chat"
	SourceNotices = "notices"
)

// Record is one record of a table's stream: which table, the record's id
// (the same on every delivery of it), the item's keys and its images
// before and after the write (nil when there is none).
type Record struct {
	Source   string
	EventID  string
	Keys     map[string]types.AttributeValue
	Old, New map[string]types.AttributeValue
	At       time.Time // when the write happened, about
}

// ErrGone is what a Poster answers for a connection that is closed.
var ErrGone = errors.New("realtime: the connection is gone")

// Poster sends data to one connection (API Gateway's PostToConnection).
type Poster interface {
	Post(ctx context.Context, connectionID string, data []byte) error
}

// Roster lists a conversation's members.
type Roster interface {
	MemberIDs(ctx context.Context, tenantID, convID string) ([]string, error)
}

// Pusher turns a batch of stream records into events and posts each to
// the open connections of the members it concerns.
type Pusher struct {
	Roster      Roster
	Connections *Connections
	Poster      Poster
	// Concurrency bounds the posts in flight (and the roster reads);
	// 32 when zero. Each connection's events go one after another, in
	// stream order.
	Concurrency int
}

// Result is what a push did.
type Result struct {
	Records int `json:"records"`
	Events  int `json:"events"`
	Posts   int `json:"posts"`  // PostToConnection calls
	Gone    int `json:"gone"`   // connections found closed and removed
	Failed  int `json:"failed"` // posts that failed otherwise
}

// delivery is an event and who gets it: the members of a conversation
// (its roster, read at push time, so a removed member gets nothing), plus
// members named outright.
type delivery struct {
	tenantID string
	conv     string // roster to read, or ""
	members  []string
	event    Event
}

// Push delivers the events of recs. It fails, delivering nothing, when a
// record does not decode, so that the event source mapping bisects the
// batch down to the bad record; a post that fails for another reason than
// a closed connection is logged and counted, not retried: the client
// catches up from the history when it reconnects.
func (p *Pusher) Push(ctx context.Context, recs []Record) (Result, error) {
	res := Result{Records: len(recs)}
	ds, err := deliveries(recs)
	if err != nil {
		return res, err
	}
	res.Events = len(ds)
	if len(ds) == 0 {
		return res, nil
	}
	rosters, err := p.rosters(ctx, ds)
	if err != nil {
		return res, err
	}
	// The frames of each connection, in stream order.
	type queue struct {
		conn   Connection
		frames [][]byte
	}
	queues := map[string]*queue{}
	var order []string
	for tenantID, members := range recipients(ds, rosters) {
		conns, err := p.Connections.Of(ctx, tenantID, members)
		if err != nil {
			return res, err
		}
		byMember := map[string][]Connection{}
		for _, c := range conns {
			byMember[c.MemberID] = append(byMember[c.MemberID], c)
		}
		for _, d := range ds {
			if d.tenantID != tenantID {
				continue
			}
			frame, err := json.Marshal(d.event)
			if err != nil {
				return res, errs.Wrap(err, "encode event")
			}
			for _, m := range d.to(rosters) {
				for _, c := range byMember[m] {
					q := queues[c.ID]
					if q == nil {
						q = &queue{conn: c}
						queues[c.ID] = q
						order = append(order, c.ID)
					}
					q.frames = append(q.frames, frame)
				}
			}
		}
	}
	var mu sync.Mutex
	p.each(len(order), func(i int) {
		q := queues[order[i]]
		posts, gone, failed := p.drain(ctx, q.conn, q.frames)
		mu.Lock()
		res.Posts, res.Gone, res.Failed = res.Posts+posts, res.Gone+gone, res.Failed+failed
		mu.Unlock()
	})
	return res, nil
}

// drain posts a connection's frames in order, stopping at the first that
// finds it gone (and removing it).
func (p *Pusher) drain(ctx context.Context, c Connection, frames [][]byte) (posts, gone, failed int) {
	for _, f := range frames {
		posts++
		err := p.Poster.Post(ctx, c.ID, f)
		switch {
		case errors.Is(err, ErrGone):
			if err := p.Connections.Remove(ctx, c); err != nil {
				slog.WarnContext(ctx, "remove gone connection", "error", err)
			}
			return posts, 1, failed
		case err != nil:
			failed++
			slog.WarnContext(ctx, "post to connection", "error", err)
		}
	}
	return posts, 0, failed
}

// each runs fn(0..n-1), Concurrency at a time.
func (p *Pusher) each(n int, fn func(i int)) {
	limit := p.Concurrency
	if limit <= 0 {
		limit = 32
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}

// rosters reads the members of every conversation the deliveries go to,
// once each.
func (p *Pusher) rosters(ctx context.Context, ds []delivery) (map[string][]string, error) {
	var convs []delivery
	seen := map[string]bool{}
	for _, d := range ds {
		k := d.tenantID + "#" + d.conv
		if d.conv != "" && !seen[k] {
			seen[k] = true
			convs = append(convs, d)
		}
	}
	out := make(map[string][]string, len(convs))
	var mu sync.Mutex
	var first error
	p.each(len(convs), func(i int) {
		d := convs[i]
		ids, err := p.Roster.MemberIDs(ctx, d.tenantID, d.conv)
		mu.Lock()
		defer mu.Unlock()
		out[d.tenantID+"#"+d.conv] = ids
		if err != nil && first == nil {
			first = err
		}
	})
	return out, first
}

// to lists who gets d, each once.
func (d delivery) to(rosters map[string][]string) []string {
	if d.conv == "" {
		return d.members
	}
	all := append(append([]string(nil), rosters[d.tenantID+"#"+d.conv]...), d.members...)
	slices.Sort(all)
	return slices.Compact(all)
}

// recipients gathers, per tenant, every member some delivery goes to.
func recipients(ds []delivery, rosters map[string][]string) map[string][]string {
	out := map[string][]string{}
	seen := map[string]bool{}
	for _, d := range ds {
		for _, m := range d.to(rosters) {
			if k := d.tenantID + "#" + m; !seen[k] {
				seen[k] = true
				out[d.tenantID] = append(out[d.tenantID], m)
			}
		}
	}
	return out
}

// deliveries decodes the records into events, in stream order. The member
// changes of a conversation within one batch (a group created or grown by
// one transaction) make one conversation.updated event, not one each.
func deliveries(recs []Record) ([]delivery, error) {
	var ds []delivery
	members := map[string]int{} // tenant#conv → index in ds of its "members" event
	for _, r := range recs {
		switch r.Source {
		case SourceNotices:
			d, ok, err := noticeDelivery(r)
			if err != nil {
				return nil, fmt.Errorf("record %s: %w", r.EventID, err)
			}
			if ok {
				ds = append(ds, d)
			}
		case SourceChat:
			changes, err := chat.DecodeChange(r.Keys, r.Old, r.New)
			if err != nil {
				return nil, fmt.Errorf("record %s: %w", r.EventID, err)
			}
			for i, c := range changes {
				if c.Kind == chat.ChangeUnchanged {
					continue
				}
				id := r.EventID
				if i > 0 {
					id = fmt.Sprintf("%s.%d", r.EventID, i)
				}
				at := c.At
				if at.IsZero() {
					at = r.At
				}
				k := c.TenantID + "#" + c.ConversationID
				if c.Kind == chat.ChangeCreated {
					// A new conversation's members come with it.
					if j, ok := members[k]; ok {
						e := &ds[j].event
						e.Change, e.Name, e.OwnerID = chat.ChangeCreated, c.Name, c.OwnerID
						continue
					}
					members[k] = len(ds)
				}
				if c.Kind == chat.ChangeJoined || c.Kind == chat.ChangeLeft {
					j, ok := members[k]
					if !ok {
						j = len(ds)
						members[k] = j
						ds = append(ds, delivery{tenantID: c.TenantID, conv: c.ConversationID, event: Event{
							ID: id, Type: ConversationUpdated, At: at, ConversationID: c.ConversationID, Change: "members",
						}})
					}
					if c.Kind == chat.ChangeJoined {
						ds[j].event.Added = append(ds[j].event.Added, c.MemberID)
					} else {
						// The member who left is no longer in the roster:
						// named outright, they learn of it, and of nothing after.
						ds[j].event.Removed = append(ds[j].event.Removed, c.MemberID)
						ds[j].members = append(ds[j].members, c.MemberID)
					}
					continue
				}
				ds = append(ds, chatDelivery(c, id, at))
			}
		default:
			return nil, fmt.Errorf("record %s: unknown source %q", r.EventID, r.Source)
		}
	}
	return withoutSendersReads(ds), nil
}

// withoutSendersReads drops the read cursor a send moves for its sender
// (the same transaction writes both): message.created already says the
// sender has read their own message.
func withoutSendersReads(ds []delivery) []delivery {
	sent := map[string]bool{}
	for _, d := range ds {
		if e := d.event; e.Type == MessageCreated {
			sent[fmt.Sprintf("%s#%s#%s#%d", d.tenantID, e.ConversationID, e.Message.SenderID, e.Seq)] = true
		}
	}
	out := ds[:0]
	for _, d := range ds {
		if e := d.event; e.Type != ConversationRead || !sent[fmt.Sprintf("%s#%s#%s#%d", d.tenantID, e.ConversationID, e.MemberID, e.Seq)] {
			out = append(out, d)
		}
	}
	return out
}

func chatDelivery(c chat.Change, id string, at time.Time) delivery {
	d := delivery{tenantID: c.TenantID, conv: c.ConversationID}
	e := Event{ID: id, At: at, ConversationID: c.ConversationID}
	switch c.Kind {
	case chat.ChangeMessage:
		e.Type, e.Seq, e.Message = MessageCreated, c.Message.Seq, c.Message
	case chat.ChangeRead:
		e.Type, e.Seq, e.MemberID = ConversationRead, c.ReadSeq, c.MemberID
	case chat.ChangePinned, chat.ChangeUnpinned, chat.ChangeHidden:
		// For that member only.
		e.Type, e.Change, e.MemberID = ConversationUpdated, c.Kind, c.MemberID
		d.conv, d.members = "", []string{c.MemberID}
	default: // created, renamed, owner
		e.Type, e.Change, e.Name, e.OwnerID = ConversationUpdated, c.Kind, c.Name, c.OwnerID
	}
	d.event = e
	return d
}

// noticeDelivery reads a new notice; other writes to the inbox (marking a
// notice read) are not pushed.
func noticeDelivery(r Record) (delivery, bool, error) {
	if r.Old != nil || r.New == nil {
		return delivery{}, false, nil
	}
	n, ok, err := notice.DecodeImage(r.Keys, r.New)
	if !ok || err != nil {
		return delivery{}, false, err
	}
	return delivery{tenantID: n.TenantID, members: []string{n.MemberID}, event: Event{
		ID: r.EventID, Type: NoticeCreated, At: n.CreatedAt, Notice: &n,
	}}, true, nil
}
