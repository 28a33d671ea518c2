package billing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"workbench/shared/directory"
	"workbench/shared/ids"
	"workbench/shared/notice"
	"workbench/shared/sms"
)

// Scanner sends the expiry notices that are due. Each run reads the due
// index up to its "now" and, per due subscription, sends the latest due
// step to its recipients over its channels, then moves the subscription to
// its next step. Exactly once per subscription, step, recipient and
// channel: every delivery is claimed with a conditional write before it is
// sent and marked sent after, so a second run (concurrent or later) skips
// it; a run that crashed between claim and send leaves a claim that a later
// run takes over once Lease has passed.
//
// The due row carries a snapshot of its recipients (Record.To: ids, item
// versions, sealed mobiles), so a due notice costs the read of its row and
// of its step's delivery records; each claim checks in its transaction that
// the snapshot is current, and only when it is not does the scan read the
// directory for a new one.
type Scanner struct {
	Store     Store
	Directory Directory
	SMS       sms.Sender
	Notices   notice.Sender
	// Clock is the wall clock for leases; the scan's "now" is the event
	// time, which replays may set to any moment.
	Clock func() time.Time
	Lease time.Duration // how long a claim protects a delivery in flight
}

// DefaultLease outlasts any run of the scan function (its timeout is 60 s).
const DefaultLease = 5 * time.Minute

// Report says what a run did.
type Report struct {
	Now     time.Time `json:"now"`
	Due     int       `json:"due"`     // subscriptions found due
	Notices []Sent    `json:"notices"` // steps sent in this run
	Pending int       `json:"pending"` // steps left for a later run (claimed elsewhere, or failed)
}

// Sent is one step a run sent.
type Sent struct {
	Tenant string `json:"tenant"`
	Step   string `json:"step"`
	State  State  `json:"state"` // the subscription's state at the run's now
	SMS    int    `json:"sms"`
	System int    `json:"system"`
}

// Scan runs the scan as of now.
func (sc *Scanner) Scan(ctx context.Context, now time.Time) (Report, error) {
	rep := Report{Now: now.UTC(), Notices: []Sent{}}
	run := ids.New(sc.Clock())
	recs, err := sc.Store.Due(ctx, now)
	if err != nil {
		return rep, err
	}
	var failed []error
	for _, r := range recs {
		rep.Due++
		sent, done, err := sc.one(ctx, run, r, now)
		if err != nil {
			// One tenant's failure must not hold up the others; the
			// subscription stays due and the next run retries it.
			slog.ErrorContext(ctx, "expiry notice failed", "tenant", r.TenantID, "error", err)
			failed = append(failed, err)
		}
		if sent != nil {
			rep.Notices = append(rep.Notices, *sent)
		}
		if !done {
			rep.Pending++
		}
	}
	slog.InfoContext(ctx, "expiry scan", "now", rep.Now, "due", rep.Due, "sent", len(rep.Notices), "pending", rep.Pending)
	return rep, errors.Join(failed...)
}

// one handles one due subscription; done is false when its step must be
// retried by a later run.
func (sc *Scanner) one(ctx context.Context, run string, r Record, now time.Time) (*Sent, bool, error) {
	plan, ok := r.Schedule()
	if !ok {
		return nil, true, sc.advance(ctx, r, "", nil)
	}
	step, due, ok, err := plan.Due(now)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		// Indexed ahead of its schedule (settings changed since): just
		// re-place it.
		return nil, true, sc.advance(ctx, r, r.Cycle, nil)
	}
	sent, to, complete, err := sc.deliver(ctx, run, r, plan, step)
	if sent != nil {
		sent.State = plan.Sub.StateAt(now)
	}
	if err != nil || !complete {
		return sent, false, err
	}
	r.To = to
	return sent, true, sc.advance(ctx, r, r.Cycle, due)
}

// advance marks steps done in cycle and re-places the item in the due
// index, re-reading it when it changed since it was read.
func (sc *Scanner) advance(ctx context.Context, r Record, cycle string, steps []string) error {
	for range maxAttempts {
		if r.Cycle == cycle {
			for _, st := range steps {
				if !slices.Contains(r.Done, st) {
					r.Done = append(r.Done, st)
				}
			}
		}
		prev := r.Version
		if err := r.Reindex(); err != nil {
			return err
		}
		err := sc.Store.Put(ctx, &r, prev, nil)
		if !errors.Is(err, ErrStale) {
			return err
		}
		fresh, found, err := sc.Store.Get(ctx, r.TenantCode)
		if err != nil || !found {
			return err
		}
		fresh.To, r = r.To, fresh
	}
	return fmt.Errorf("billing: subscription of %s kept changing", r.TenantCode)
}

// snapshotTries bounds how often one step takes a new snapshot of its
// recipients because the one it had went stale under it.
const snapshotTries = 3

// deliver sends step to every recipient over every channel not delivered
// yet, with the recipients of r's snapshot or of a new one when that is
// missing or stale; complete is true when nothing is left in flight, to is
// the snapshot used.
func (sc *Scanner) deliver(ctx context.Context, run string, r Record, plan Plan, step Step) (*Sent, *directory.Recipients, bool, error) {
	named := plan.Settings.Recipients
	to := r.To
	sent := &Sent{Tenant: r.TenantCode, Step: step.Name}
	for range snapshotTries {
		if to == nil || !to.For(named) {
			fresh, err := sc.Directory.Recipients(ctx, r.TenantID, named)
			if err != nil {
				return nil, nil, false, err
			}
			to = &fresh
		}
		complete, err := sc.send(ctx, run, r, plan, step, *to, sent)
		if errors.Is(err, ErrRecipientsChanged) {
			to = nil
			continue
		}
		if sent.SMS+sent.System == 0 {
			sent = nil
		}
		return sent, to, complete, err
	}
	return nil, nil, false, fmt.Errorf("billing: recipients of %s kept changing", r.TenantCode)
}

// send delivers step to the recipients of to, adding what it sent to sent;
// ErrRecipientsChanged says to went stale (what was sent stays sent).
func (sc *Scanner) send(ctx context.Context, run string, r Record, plan Plan, step Step, to directory.Recipients, sent *Sent) (bool, error) {
	existing, err := sc.Store.Deliveries(ctx, r.TenantCode, r.Cycle, step.Name)
	if err != nil {
		return false, err
	}
	title, body := message(r.TenantCode, plan, step)
	complete := true
	lease := sc.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	wall := sc.Clock().UTC()
	for _, m := range to.Members {
		if !m.Send {
			continue
		}
		for _, ch := range plan.Settings.Channels {
			d := Delivery{Key: DeliveryKey(r.Cycle, step.Name, m.ID, ch), MemberID: m.ID, Channel: ch, Status: StatusClaimed, ClaimedBy: run, ClaimedAt: wall}
			var prev *Delivery
			if old, ok := existing[d.Key]; ok {
				if old.Status != StatusClaimed {
					continue // sent or skipped before
				}
				if wall.Sub(old.ClaimedAt) < lease {
					complete = false // another run is on it right now
					continue
				}
				prev = &old
			}
			if err := sc.Store.Claim(ctx, r.TenantCode, d, prev, r.TenantID, to); err != nil {
				if errors.Is(err, ErrStale) {
					complete = false
					continue
				}
				return false, err
			}
			d.Status = StatusSent
			switch ch {
			case ChannelSMS:
				mobile, err := sc.Directory.Mobile(r.TenantID, m)
				if err != nil {
					return false, err
				}
				if mobile == "" {
					d.Status = StatusSkipped
				} else if err := sc.SMS.Send(ctx, mobile, sms.Brand+body); err != nil {
					// Left claimed: a run after the lease retries it.
					slog.ErrorContext(ctx, "expiry SMS failed", "tenant", r.TenantID, "member", m.ID, "mobile", sms.Mask(mobile), "error", err)
					complete = false
					continue
				} else {
					sent.SMS++
				}
			case ChannelSystem:
				n := notice.Notice{
					ID: NoticeID(r.TenantID, r.Cycle, step, m.ID), TenantID: r.TenantID, MemberID: m.ID,
					Kind: noticeKind(step), Title: title, Body: body, CreatedAt: step.At,
					Data: map[string]string{"tenant": r.TenantCode, "step": step.Name, "expiresAt": plan.Sub.ExpiresAt.UTC().Format(time.RFC3339)},
				}
				if err := sc.Notices.Deliver(ctx, n); err != nil {
					slog.ErrorContext(ctx, "expiry notice failed", "tenant", r.TenantID, "member", m.ID, "error", err)
					complete = false
					continue
				}
				sent.System++
			}
			d.SentAt = sc.Clock().UTC()
			if err := sc.Store.Finish(ctx, r.TenantCode, d); err != nil && !errors.Is(err, ErrStale) {
				return false, err
			}
		}
	}
	return complete, nil
}

// NoticeID is the inbox id of one step's notice to one member: the same on
// every run, so delivering it again is harmless, and a ULID stamped with the
// step's due time, so inboxes sort it among the member's other notices.
func NoticeID(tenantID, cycle string, step Step, memberID string) string {
	h := sha256.Sum256([]byte(tenantID + "|" + cycle + "|" + step.Name + "|" + memberID))
	id := ulid.MustNew(ulid.Timestamp(step.At), bytes.NewReader(h[:10]))
	return strings.ToLower(id.String())
}

func noticeKind(step Step) string {
	switch step.Name {
	case StepGrace:
		return "subscription_grace"
	case StepRetention:
		return "subscription_retention"
	}
	return "expiry_warning"
}

// message is the text of a step, with times in the tenant's timezone.
func message(code string, plan Plan, step Step) (title, body string) {
	loc, err := location(plan.Settings.Timezone)
	if err != nil {
		loc = time.UTC
	}
	local := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04 MST") }
	sub := plan.Sub
	switch step.Name {
	case StepGrace:
		return "订阅已到期，进入宽限期",
			fmt.Sprintf("企业 %s 的订阅（%s）已于 %s 到期，现处于宽限期，服务照常至 %s。请尽快续费，之后将进入只读的保留期。", code, sub.Plan, local(sub.ExpiresAt), local(sub.GraceEnds()))
	case StepRetention:
		return "订阅进入保留期，数据只读",
			fmt.Sprintf("企业 %s 的订阅（%s）宽限期已结束，现处于保留期：数据只读，管理员仍可登录续费。%s 后服务将被释放。", code, sub.Plan, local(sub.RetentionEnds()))
	}
	return "订阅即将到期",
		fmt.Sprintf("企业 %s 的订阅（%s）将于 %s 到期（到期前 %d 天提醒）。请及时续费，以免服务中断。", code, sub.Plan, local(sub.ExpiresAt), step.Days)
}
