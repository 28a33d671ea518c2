package chat

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"workbench/shared/auth"
)

// Hooks for the external tests of this directory (package chat_test).

func MotoURLForTest() string { return motoURL }

// TablesForTest creates the tables the chat functions use and returns their
// names by template LogicalId.
func TablesForTest(tb testing.TB) map[string]string {
	f := newFixture(tb)
	testFixtures[f.chatTable] = f
	return map[string]string{
		"ChatTable": f.chatTable, "DirectoryTable": f.codec.Table,
		"IdentityTable": "identity-" + f.chatTable, "NoticesTable": "notices-" + f.chatTable,
	}
}

var testFixtures = map[string]*fixture{}

// TestMember adds an enabled member to the directory table of tables.
func MemberForTest(tb testing.TB, tables map[string]string, tenantID, name string, now time.Time) (auth.Principal, string) {
	f := testFixtures[tables["ChatTable"]]
	*f.clock = now
	return f.member(tb, tenantID, name)
}

// TestReminder returns the state of the reminder of a message.
func ReminderForTest(tb testing.TB, tables map[string]string, tenantID, messageID string) (sent []string, attempts int, done bool) {
	tb.Helper()
	f := testFixtures[tables["ChatTable"]]
	conv, seq, ok := ParseMessageID(messageID)
	if !ok {
		tb.Fatalf("bad message id %q", messageID)
	}
	out, err := f.db.GetItem(bg, &dynamodb.GetItemInput{TableName: aws.String(f.chatTable), Key: key(convPK(tenantID, conv), reminderSK(seq)), ConsistentRead: aws.Bool(true)})
	if err != nil || out.Item == nil {
		tb.Fatalf("reminder of %s: %v", messageID, err)
	}
	var r reminderRecord
	if err := unmarshal(out.Item, &r); err != nil {
		tb.Fatal(err)
	}
	return r.Sent, r.Attempts, r.DoneAt != nil && r.GSI2PK == ""
}
