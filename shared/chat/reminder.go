package chat

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/sms"
)

// Reminders sends the SMS reminders of urgent messages that fell due.
type Reminders struct {
	DB        DB
	Table     string
	Directory *directory.Codec // opens recipients' mobiles and senders' names
	SMS       sms.Sender
	Lease     time.Duration // how long a sweep holds a reminder it claimed; DefaultLease when zero
	Shards    int           // partitions of the due index (INDEX_SHARDS); zero means dynamo.DefaultShards
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
	shards := dynamo.Shards{Key: duePK, N: r.Shards}
	items, err := dynamo.QueryShards(ctx, r.DB, &dynamodb.QueryInput{
		TableName:              aws.String(r.Table),
		IndexName:              aws.String(dueIndex),
		KeyConditionExpression: aws.String("gsi2pk = :pk AND gsi2sk < :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			// '$' sorts after the '#' that follows the due time in the key,
			// so reminders due exactly now are included.
			":now": str(now.UTC().Format(dueTime) + "$"),
		},
	}, ":pk", shards.Partitions(), "gsi2sk")
	if err != nil {
		return res, errs.Wrap(err, "query due reminders")
	}
	for _, it := range items {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < sweepReserve {
			// What is left stays due for the next run, a minute from now.
			slog.WarnContext(ctx, "reminder sweep out of time", "handled", res.Due)
			return res, nil
		}
		rem, err := decodeReminder(it)
		if err != nil {
			return res, err
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

// claimUpdate takes a pending reminder nobody holds (or whose holder's
// lease ran out).
func (r *Reminders) claimUpdate(k map[string]types.AttributeValue, now time.Time) *types.Update {
	return &types.Update{
		TableName:           aws.String(r.Table),
		Key:                 k,
		UpdateExpression:    aws.String("SET leaseUntil = :lease, attempts = attempts + :one"),
		ConditionExpression: aws.String("attribute_exists(gsi2pk) AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":lease": num(now.Add(r.lease()).UnixMilli()), ":now": num(now.UnixMilli()), ":one": num(1),
		},
	}
}

// handleDirect handles the reminder of a 1:1 message from its due row
// alone: the claim is one transaction with a check that the recipient's
// read cursor is still before the message (a read in time fails it and
// closes the reminder without an SMS), and the row carries the sealed name
// and mobile the SMS needs.
func (r *Reminders) handleDirect(ctx context.Context, rem reminderRecord, now time.Time, res *SweepResult) error {
	k := key(rem.PK, rem.SK)
	_, err := r.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: r.claimUpdate(k, now)},
		{ConditionCheck: &types.ConditionCheck{
			TableName:                 aws.String(r.Table),
			Key:                       key(rem.PK, entrySK(rem.Recipient)),
			ConditionExpression:       aws.String("readSeq < :seq AND joinedSeq < :seq"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":seq": num(rem.Seq)},
		}},
	}})
	switch {
	case dynamo.FailedCondition(err, 0) || dynamo.Conflicted(err):
		return nil // done already, or another sweep has it
	case dynamo.FailedCondition(err, 1):
		return r.close(ctx, k, "", now) // read in time (or no longer a member): no SMS
	case err != nil:
		return errs.Wrap(err, "claim reminder")
	}
	res.Claimed++
	rem.Attempts++
	people := map[string]directory.Member{}
	for _, it := range rem.People {
		m, err := r.Directory.Member(it)
		if err != nil {
			return r.release(ctx, k, errs.Wrap(err, "open member"))
		}
		people[m.ID] = m
	}
	owed := owedSMS(rem, []entryRecord{{MemberID: rem.Recipient}}) // its read was checked by the claim
	m, ok := people[rem.Recipient]
	if len(owed) == 0 || !ok || !m.Enabled {
		return r.close(ctx, k, "", now)
	}
	if err := r.SMS.Send(ctx, m.Mobile, ReminderText(senderName(people, rem.SenderID), rem.Snippet)); err != nil {
		res.Failed++
		slog.WarnContext(ctx, "reminder SMS failed", "tenant", rem.TenantID, "member", rem.Recipient, "to", sms.Mask(m.Mobile), "error", err.Error())
		return r.finish(ctx, k, rem, 1, now)
	}
	res.Sent++
	slog.InfoContext(ctx, "reminder SMS sent", "tenant", rem.TenantID, "conversation", rem.ConversationID, "seq", rem.Seq, "member", rem.Recipient)
	return r.close(ctx, k, rem.Recipient, now)
}

// close takes a reminder out of the due index for good, recording sentTo
// (when not empty) as reminded in the same write. The copies of the
// directory items go with it: sealed or not, personal data is kept only
// while it is needed.
func (r *Reminders) close(ctx context.Context, k map[string]types.AttributeValue, sentTo string, now time.Time) error {
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(r.Table),
		Key:                       k,
		UpdateExpression:          aws.String("SET doneAt = :at REMOVE gsi2pk, gsi2sk, leaseUntil, people"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": av(now.UTC())},
	}
	if sentTo != "" {
		in.UpdateExpression = aws.String("SET doneAt = :at ADD sent :m REMOVE gsi2pk, gsi2sk, leaseUntil, people")
		in.ExpressionAttributeValues[":m"] = &types.AttributeValueMemberSS{Value: []string{sentTo}}
	}
	_, err := r.DB.UpdateItem(ctx, in)
	return errs.Wrap(err, "close reminder")
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

// closeReminders are the updates that take reminders of a conversation
// out of the due index because their recipient read the message: the
// sweep never reads them. A reminder the sweep closed already keeps its
// doneAt.
func (s *Service) closeReminders(pk string, seqs []int64, now time.Time) []types.TransactWriteItem {
	tx := make([]types.TransactWriteItem, len(seqs))
	for i, n := range seqs {
		tx[i] = types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.Table),
			Key:                       key(pk, reminderSK(n)),
			UpdateExpression:          aws.String("SET doneAt = if_not_exists(doneAt, :at) REMOVE gsi2pk, gsi2sk, leaseUntil, people"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":at": av(now)},
		}}
	}
	return tx
}

func (r *Reminders) lease() time.Duration {
	if r.Lease > 0 {
		return r.Lease
	}
	return DefaultLease
}

func (r *Reminders) handle(ctx context.Context, rem reminderRecord, now time.Time, res *SweepResult) error {
	k := key(rem.PK, rem.SK)
	// Claim: only a pending reminder nobody holds (or whose holder's lease
	// ran out) can be taken.
	claim := r.claimUpdate(k, now)
	out, err := r.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: claim.TableName, Key: claim.Key, UpdateExpression: claim.UpdateExpression,
		ConditionExpression: claim.ConditionExpression, ExpressionAttributeValues: claim.ExpressionAttributeValues,
		ReturnValues: types.ReturnValueAllNew,
	})
	if dynamo.ConditionFailed(err) {
		return nil // done already, or another sweep has it
	}
	if err != nil {
		return errs.Wrap(err, "claim reminder")
	}
	res.Claimed++
	if err := unmarshal(out.Attributes, &rem); err != nil {
		return err
	}

	entries, err := readEntries(ctx, r.DB, r.Table, rem.TenantID, rem.ConversationID, "memberId, readSeq, joinedSeq")
	if err != nil {
		return r.release(ctx, k, errs.Wrap(err, "read read cursors"))
	}
	failed := 0
	if owed := owedSMS(rem, entries); len(owed) > 0 {
		if failed, err = r.remind(ctx, k, rem, owed, res); err != nil {
			return err
		}
	}
	return r.finish(ctx, k, rem, failed, now)
}

// remind sends the SMS of a claimed group reminder to the members owed
// one, recording each as reminded right after its SMS. It returns the
// number of SMS that failed; an error has released the reminder when it
// could.
func (r *Reminders) remind(ctx context.Context, k map[string]types.AttributeValue, rem reminderRecord, owed []string, res *SweepResult) (int, error) {
	keys := []map[string]types.AttributeValue{r.Directory.Key(rem.TenantID, rem.SenderID)}
	for _, m := range owed {
		keys = append(keys, r.Directory.Key(rem.TenantID, m))
	}
	items, err := batchGet(ctx, r.DB, r.Directory.Table, keys, false, "", nil)
	if err != nil {
		return 0, r.release(ctx, k, err)
	}
	people := map[string]directory.Member{}
	for _, it := range items {
		m, err := r.Directory.Member(it)
		if err != nil {
			return 0, r.release(ctx, k, errs.Wrap(err, "open member"))
		}
		people[m.ID] = m
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
		_, err := r.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(r.Table),
			Key:                       k,
			UpdateExpression:          aws.String("ADD sent :m"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":m": &types.AttributeValueMemberSS{Value: []string{id}}},
		})
		if err != nil {
			return failed, errs.Wrap(err, "record reminder sent")
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
func (r *Reminders) finish(ctx context.Context, k map[string]types.AttributeValue, rem reminderRecord, failed int, now time.Time) error {
	switch reminderAfter(failed, rem.Attempts) {
	case reminderRetry:
		return r.release(ctx, k, fmt.Errorf("%d reminder SMS failed; the reminder stays pending", failed))
	case reminderGivenUp:
		slog.ErrorContext(ctx, "reminder given up", "tenant", rem.TenantID, "conversation", rem.ConversationID, "seq", rem.Seq, "attempts", rem.Attempts, "unsent", failed)
	}
	// Done: out of the due index for good.
	return r.close(ctx, k, "", now)
}

// release gives a claimed reminder back, so that the next sweep retries it.
func (r *Reminders) release(ctx context.Context, k map[string]types.AttributeValue, cause error) error {
	_, err := r.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(r.Table),
		Key:              k,
		UpdateExpression: aws.String("REMOVE leaseUntil"),
	})
	if err != nil {
		slog.ErrorContext(ctx, "reminder not released; it waits for its lease", "error", err.Error())
	}
	return cause
}

// ReminderText is the SMS of a rocket reminder: who sent it and a snippet,
// never a long text whole.
func ReminderText(senderName, snippet string) string {
	return sms.Brand + senderName + " 给您发了一条加急消息，您还未读：“" + Snippet(snippet) + "”"
}
