package chat

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/auth"
)

func TestPlanSend(t *testing.T) {
	head, entry := &headRecord{}, &entryRecord{}
	for _, tc := range []struct {
		name string
		st   sendState
		d    draft
		want int
	}{
		{"append", sendState{head: head, entry: entry}, draft{}, planAppend},
		{"reply found", sendState{head: head, entry: entry, reply: &messageRecord{}}, draft{replySeq: 3}, planAppend},
		{"reply missing", sendState{head: head, entry: entry}, draft{replySeq: 3}, planReplyMissing},
		{"client id used", sendState{head: head, entry: entry, claim: &clientRecord{Seq: 4}}, draft{clientID: "c1", replySeq: 3}, planRetried},
		{"no conversation", sendState{}, draft{}, planNotFound},
		{"not a member", sendState{head: head}, draft{}, planNotFound},
		{"rocket to a new 1:1", sendState{}, draft{peer: "b"}, planCreate},
		{"rocket to an existing 1:1", sendState{head: head, entry: entry}, draft{peer: "b"}, planAppend},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := planSend(tc.st, tc.d); got != tc.want {
				t.Fatalf("planSend = %d, want %d", got, tc.want)
			}
		})
	}
}

func cancelled(codes ...string) error {
	reasons := make([]types.CancellationReason, len(codes))
	for i, c := range codes {
		reasons[i] = types.CancellationReason{Code: aws.String(c)}
	}
	return &types.TransactionCanceledException{Message: aws.String("cancelled"), CancellationReasons: reasons}
}

func TestSendOutcome(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		appending bool
		claimAt   int
		want      int
	}{
		{"committed", nil, true, -1, outcomeSent},
		{"sequence taken", cancelled("ConditionalCheckFailed", "None", "None"), true, -1, outcomeRetry},
		{"sender removed", cancelled("None", "ConditionalCheckFailed", "None"), true, -1, outcomeNotMember},
		{"1:1 created meanwhile", cancelled("ConditionalCheckFailed", "ConditionalCheckFailed", "None"), false, -1, outcomeRetry},
		{"client id taken", cancelled("None", "None", "None", "ConditionalCheckFailed"), true, 3, outcomeRetry},
		{"a member's entry gone meanwhile", cancelled("None", "None", "ConditionalCheckFailed", "None"), true, -1, outcomeRetry},
		{"conflict", cancelled("None", "TransactionConflict"), true, -1, outcomeRetry},
		{"other error", errors.New("network"), true, -1, outcomeFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sendOutcome(tc.err, tc.appending, tc.claimAt); got != tc.want {
				t.Fatalf("sendOutcome = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestNewMessage(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	p := auth.Principal{TenantID: "t1", MemberID: "a"}
	long := strings.Repeat("长", 150)
	for _, tc := range []struct {
		name  string
		d     draft
		reply *messageRecord
		check func(t *testing.T, rec messageRecord, last LastMessage)
	}{
		{"plain", draft{convID: "c", text: "hello", clientID: "x"}, nil, func(t *testing.T, rec messageRecord, last LastMessage) {
			if rec.ID != "c-7" || rec.SK != messageSK(7) || rec.ClientMessageID != "x" || rec.ReplyTo != nil || last.Text != "hello" || last.ID != rec.ID {
				t.Fatalf("%+v %+v", rec, last)
			}
		}},
		{"long urgent", draft{convID: "c", text: long, urgent: true}, nil, func(t *testing.T, rec messageRecord, last LastMessage) {
			if rec.Text != long || !last.Urgent || len([]rune(last.Text)) != LastMessageRunes {
				t.Fatalf("last message of a long text: %d runes", len([]rune(last.Text)))
			}
		}},
		{"reply", draft{convID: "c", text: "yes", replySeq: 2}, &messageRecord{ID: "c-2", SenderID: "b", Text: long}, func(t *testing.T, rec messageRecord, _ LastMessage) {
			if rec.ReplyTo == nil || rec.ReplyTo.ID != "c-2" || rec.ReplyTo.SenderID != "b" || len([]rune(rec.ReplyTo.Snippet)) != SnippetRunes {
				t.Fatalf("quote %+v", rec.ReplyTo)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, last := newMessage(p, tc.d, 7, tc.reply, now)
			tc.check(t, rec, last)
		})
	}
}

func TestSendKeys(t *testing.T) {
	p := auth.Principal{TenantID: "t1", MemberID: "a"}
	for _, tc := range []struct {
		d    draft
		want int
	}{
		{draft{convID: "c"}, 2},
		{draft{convID: "c", clientID: "x"}, 3},
		{draft{convID: "c", clientID: "x", replySeq: 1, urgent: true}, 5},
	} {
		if got := len(sendKeys(p, tc.d)); got != tc.want {
			t.Errorf("%+v: %d keys, want %d", tc.d, got, tc.want)
		}
	}
}
