package identity

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/auth"
	"workbench/shared/tenant"
)

// writesDB records the writes it is sent and answers them all.
type writesDB struct {
	DB
	puts []*dynamodb.PutItemInput
	txs  []*dynamodb.TransactWriteItemsInput
}

func (d *writesDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	d.puts = append(d.puts, in)
	return &dynamodb.PutItemOutput{}, nil
}

func (d *writesDB) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	d.txs = append(d.txs, in)
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// TestAttemptWrittenWithItsLogEntry checks that a login attempt's log entry
// goes in the transaction of what the attempt changes, last, and alone
// when the attempt changes nothing.
func TestAttemptWrittenWithItsLogEntry(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	a := attempt{tenant: tenant.Tenant{ID: "t1"}, now: now, log: LoginLog{Method: MethodSMS, MemberID: "m1", UserAgent: strings.Repeat("u", 300)}}
	session := &sessionRecord{Session: auth.NewSession("s1", "t1", "acme", "m1", MethodSMS, now, time.Hour)}
	code := &codeRecord{PK: "T#t1", SK: "CODE#login#x", Hash: "h"}
	tests := []struct {
		name    string
		w       attemptWrites
		reason  string
		txItems int // 0: a plain PutItem of the entry
	}{
		{"failure that changes nothing", attemptWrites{}, "disabled", 0},
		{"wrong try counted", attemptWrites{code: code}, reasonInvalidCode, 2},
		{"login by code", attemptWrites{code: code, use: "u1", now: now, session: session}, "", 4},
		{"login by password", attemptWrites{clearLock: &lockRecord{PK: "T#t1", SK: "LOCK#x"}, session: session}, "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := &writesDB{}
			if err := (&DynamoStore{DB: db, Table: "identity"}).writeAttempt(context.Background(), tt.w, a.entry(tt.reason)); err != nil {
				t.Fatal(err)
			}
			var entry map[string]types.AttributeValue
			switch {
			case tt.txItems == 0 && len(db.puts) == 1 && len(db.txs) == 0:
				entry = db.puts[0].Item
			case tt.txItems > 0 && len(db.puts) == 0 && len(db.txs) == 1 && len(db.txs[0].TransactItems) == tt.txItems:
				last := db.txs[0].TransactItems[tt.txItems-1]
				if last.Put == nil {
					t.Fatalf("the last item of the transaction is no put: %+v", last)
				}
				entry = last.Put.Item
			default:
				t.Fatalf("%d puts and %d transactions, want the entry in a transaction of %d items", len(db.puts), len(db.txs), tt.txItems)
			}
			wantResult := map[bool]string{true: ResultSuccess, false: ResultFailure}[tt.reason == ""]
			for attr, want := range map[string]string{"pk": "T#t1", "type": "loginlog", "tenantId": "t1", "result": wantResult,
				"reason": tt.reason, "gsi1pk": "LOGM#t1#m1", "userAgent": strings.Repeat("u", maxUserAgent)} {
				if got := stringAttr(entry, attr); got != want {
					t.Errorf("%s = %q, want %q", attr, got, want)
				}
			}
			if sk := stringAttr(entry, "sk"); !strings.HasPrefix(sk, "LOG#"+stamp(now)+"#") {
				t.Errorf("sk = %q, want LOG#<time>#<id>", sk)
			}
		})
	}
}
