package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"workbench/shared/directory"
	"workbench/shared/errs"
	"workbench/shared/sms"
)

// ReminderStore is the storage of the reminders' sweep (DynamoStore).
type ReminderStore interface {
	DueReminders(ctx context.Context, now time.Time) ([]reminderRecord, error)
	Claim(ctx context.Context, rem reminderRecord, now, leaseUntil time.Time) (reminderRecord, error)
	ClaimDirect(ctx context.Context, rem reminderRecord, now, leaseUntil time.Time) error
	ReadCursors(ctx context.Context, tenantID, convID string) ([]entryRecord, error)
	People(ctx context.Context, tenantID string, memberIDs []string) (map[string]directory.Member, error)
	Open(people []person) (map[string]directory.Member, error)
	RecordSent(ctx context.Context, rem reminderRecord, memberID string) error
	Close(ctx context.Context, rem reminderRecord, sentTo string, now time.Time) error
	Release(ctx context.Context, rem reminderRecord) error
}

// What a claim can meet besides an error: the reminder is done already
// or another sweep holds it; or (a 1:1's) its recipient read the message
// in time, or is no longer a member.
var (
	errTaken      = errors.New("reminder taken")
	errReadInTime = errors.New("reminder read in time")
)

// Reminders sends the SMS reminders of urgent messages that fell due.
type Reminders struct {
	Store ReminderStore
	SMS   sms.Sender
	Lease time.Duration // how long a sweep holds a reminder it claimed; DefaultLease when zero
}

// DefaultLease is how long a claimed reminder stays with the sweep that
// claimed it. A sweep that dies holding one leaves it to a later sweep
// after the lease.
const DefaultLease = 2 * time.Minute

// MaxReminderAttempts bounds the sweeps that retry a reminder whose SMS
// keep failing (a number that no longer exists): a reminder is worth
// sending within minutes or not at all.
const MaxReminderAttempts = 10

// sweepReserve is the time a sweep keeps in hand before its invocation's
// deadline, to finish the reminder it is on.
const sweepReserve = 5 * time.Second

// SweepResult counts what a sweep did.
type SweepResult struct {
	Due     int `json:"due"`     // reminders found due
	Claimed int `json:"claimed"` // reminders this sweep claimed
	Sent    int `json:"sms"`     // SMS sent
	Failed  int `json:"failed"`  // SMS that failed (their reminders stay pending)
}

// Sweep handles every reminder due at now. It reads the due index (only
// pending reminders are in it) up to now, so its cost follows the
// reminders due, not the messages stored. Each reminder is claimed with a
// conditional update before any SMS goes out, so two sweeps running at
// once never both send it; recipients reminded are recorded one by one as
// their SMS goes out, so a retry after an SMS failure reminds only those
// still owed one.
func (r *Reminders) Sweep(ctx context.Context, now time.Time) (SweepResult, error) {
	var res SweepResult
	due, err := r.Store.DueReminders(ctx, now)
	if err != nil {
		return res, err
	}
	for _, rem := range due {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < sweepReserve {
			// What is left stays due for the next run, a minute from now.
			slog.WarnContext(ctx, "reminder sweep out of time", "handled", res.Due)
			return res, nil
		}
		res.Due++
		handle := r.handle
		if rem.Recipient != "" && len(rem.People) > 0 {
			handle = r.handleDirect
		}
		if err := handle(ctx, rem, now, &res); err != nil {
			slog.ErrorContext(ctx, "reminder failed", "tenant", rem.TenantID, "conversation", rem.ConversationID, "seq", rem.Seq, "error", err.Error())
		}
	}
	return res, nil
}

// handleDirect handles the reminder of a 1:1 message from its due row
// alone: the claim is one transaction with a check that the recipient's
// read cursor is still before the message (a read in time fails it and
// closes the reminder without an SMS), and the row carries the sealed name
// and mobile the SMS needs.
func (r *Reminders) handleDirect(ctx context.Context, rem reminderRecord, now time.Time, res *SweepResult) error {
	err := r.Store.ClaimDirect(ctx, rem, now, now.Add(r.lease()))
	switch {
	case errors.Is(err, errTaken):
		return nil
	case errors.Is(err, errReadInTime):
		return r.Store.Close(ctx, rem, "", now) // no SMS
	case err != nil:
		return err
	}
	res.Claimed++
	rem.Attempts++
	people, err := r.Store.Open(rem.People)
	if err != nil {
		return r.release(ctx, rem, err)
	}
	owed := owedSMS(rem, []entryRecord{{MemberID: rem.Recipient}}) // its read was checked by the claim
	m, ok := people[rem.Recipient]
	if len(owed) == 0 || !ok || !m.Enabled {
		return r.Store.Close(ctx, rem, "", now)
	}
	if err := r.SMS.Send(ctx, m.Mobile, ReminderText(senderName(people, rem.SenderID), rem.Snippet)); err != nil {
		res.Failed++
		slog.WarnContext(ctx, "reminder SMS failed", "tenant", rem.TenantID, "member", rem.Recipient, "to", sms.Mask(m.Mobile), "error", err.Error())
		return r.finish(ctx, rem, 1, now)
	}
	res.Sent++
	slog.InfoContext(ctx, "reminder SMS sent", "tenant", rem.TenantID, "conversation", rem.ConversationID, "seq", rem.Seq, "member", rem.Recipient)
	return r.Store.Close(ctx, rem, rem.Recipient, now)
}

// maxCloseReminders bounds the reminders a read closes in its
// transaction; any beyond are cancelled by the sweep's check of the read
// cursor instead.
const maxCloseReminders = 50

// dueReminders are the pending reminders (sequences) a read up to seq
// closes.
func dueReminders(pending []int64, seq int64) []int64 {
	var out []int64
	for _, n := range pending {
		if n <= seq && len(out) < maxCloseReminders {
			out = append(out, n)
		}
	}
	return out
}

func (r *Reminders) lease() time.Duration {
	if r.Lease > 0 {
		return r.Lease
	}
	return DefaultLease
}

func (r *Reminders) handle(ctx context.Context, rem reminderRecord, now time.Time, res *SweepResult) error {
	// Claim: only a pending reminder nobody holds (or whose holder's lease
	// ran out) can be taken.
	rem, err := r.Store.Claim(ctx, rem, now, now.Add(r.lease()))
	if errors.Is(err, errTaken) {
		return nil // done already, or another sweep has it
	}
	if err != nil {
		return err
	}
	res.Claimed++
	entries, err := r.Store.ReadCursors(ctx, rem.TenantID, rem.ConversationID)
	if err != nil {
		return r.release(ctx, rem, errs.Wrap(err, "read read cursors"))
	}
	failed := 0
	if owed := owedSMS(rem, entries); len(owed) > 0 {
		if failed, err = r.remind(ctx, rem, owed, res); err != nil {
			return err
		}
	}
	return r.finish(ctx, rem, failed, now)
}

// remind sends the SMS of a claimed group reminder to the members owed
// one, recording each as reminded right after its SMS. It returns the
// number of SMS that failed; an error has released the reminder when it
// could.
func (r *Reminders) remind(ctx context.Context, rem reminderRecord, owed []string, res *SweepResult) (int, error) {
	people, err := r.Store.People(ctx, rem.TenantID, append([]string{rem.SenderID}, owed...))
	if err != nil {
		return 0, r.release(ctx, rem, err)
	}
	text := ReminderText(senderName(people, rem.SenderID), rem.Snippet)
	failed := 0
	for _, id := range owed {
		m, ok := people[id]
		if !ok || !m.Enabled {
			continue // removed or disabled since: nobody to remind
		}
		if err := r.SMS.Send(ctx, m.Mobile, text); err != nil {
			failed++
			res.Failed++
			slog.WarnContext(ctx, "reminder SMS failed", "tenant", rem.TenantID, "member", id, "to", sms.Mask(m.Mobile), "error", err.Error())
			continue
		}
		res.Sent++
		// Recorded at once, so that no later attempt sends it again.
		if err := r.Store.RecordSent(ctx, rem, id); err != nil {
			return failed, err
		}
		slog.InfoContext(ctx, "reminder SMS sent", "tenant", rem.TenantID, "conversation", rem.ConversationID, "seq", rem.Seq, "member", id)
	}
	return failed, nil
}

// owedSMS are the members owed a reminder SMS, of the conversation's
// entries: other than the message's sender, in the conversation since
// before the message, whose read cursor has not reached it, and not
// reminded yet.
func owedSMS(rem reminderRecord, entries []entryRecord) []string {
	var owed []string
	for _, e := range entries {
		if e.MemberID != rem.SenderID && e.JoinedSeq < rem.Seq && e.ReadSeq < rem.Seq && !slices.Contains(rem.Sent, e.MemberID) {
			owed = append(owed, e.MemberID)
		}
	}
	return owed
}

// senderName is how a reminder names its sender: by name, or as a
// colleague when the directory no longer has them.
func senderName(people map[string]directory.Member, id string) string {
	if m, ok := people[id]; ok {
		return m.Name
	}
	return "A colleague"
}

// Once a claimed reminder's SMS went out (failed of them failing), it is
// released for the next sweep to retry, given up, or done.
const (
	reminderDone = iota
	reminderRetry
	reminderGivenUp
)

func reminderAfter(failed, attempts int) int {
	switch {
	case failed == 0:
		return reminderDone
	case attempts < MaxReminderAttempts:
		return reminderRetry
	}
	return reminderGivenUp
}

// finish releases or closes a claimed reminder after its SMS.
func (r *Reminders) finish(ctx context.Context, rem reminderRecord, failed int, now time.Time) error {
	switch reminderAfter(failed, rem.Attempts) {
	case reminderRetry:
		return r.release(ctx, rem, fmt.Errorf("%d reminder SMS failed; the reminder stays pending", failed))
	case reminderGivenUp:
		slog.ErrorContext(ctx, "reminder given up", "tenant", rem.TenantID, "conversation", rem.ConversationID, "seq", rem.Seq, "attempts", rem.Attempts, "unsent", failed)
	}
	// Done: out of the due index for good.
	return r.Store.Close(ctx, rem, "", now)
}

// release gives a claimed reminder back, so that the next sweep retries it.
func (r *Reminders) release(ctx context.Context, rem reminderRecord, cause error) error {
	if err := r.Store.Release(ctx, rem); err != nil {
		slog.ErrorContext(ctx, "reminder not released; it waits for its lease", "error", err.Error())
	}
	return cause
}

// ReminderText is the SMS of a rocket reminder: who sent it and a snippet,
// never a long text whole.
func ReminderText(senderName, snippet string) string {
	return sms.Brand + senderName + " 给您发了一条加急消息，您还未读：“" + Snippet(snippet) + "”"
}
