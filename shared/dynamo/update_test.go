package dynamo

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestUpdateItem(t *testing.T) {
	cases := []struct {
		name             string
		u                Update
		update, cond     string
		names, numValues int
	}{
		{
			name: "set, add and guard, one attribute in two clauses",
			u: Update{Set: map[string]any{"state": "done", "processed": 5}, Add: map[string]int64{"failed": 1},
				If: map[string]any{"processed": 4, "owner": "me"}},
			update: "SET #a0 = :v0, #a1 = :v1 ADD #a2 :v2", cond: "#a3 = :v3 AND #a0 = :v4",
			names: 4, numValues: 5,
		},
		{name: "set only", u: Update{Set: map[string]any{"a": "x"}}, update: "SET #a0 = :v0", names: 1, numValues: 1},
		{name: "add only", u: Update{Add: map[string]int64{"n": 2}}, update: "ADD #a0 :v0", names: 1, numValues: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.u.Table, c.u.Key = "t", map[string]string{"pk": "T#1", "sk": "JOB#2"}
			it, err := c.u.Item()
			if err != nil {
				t.Fatal(err)
			}
			u := it.Update
			if got := aws.ToString(u.UpdateExpression); got != c.update {
				t.Errorf("update %q, want %q", got, c.update)
			}
			if got := aws.ToString(u.ConditionExpression); got != c.cond {
				t.Errorf("condition %q, want %q", got, c.cond)
			}
			if len(u.ExpressionAttributeNames) != c.names || len(u.ExpressionAttributeValues) != c.numValues {
				t.Errorf("%d names and %d values, want %d and %d", len(u.ExpressionAttributeNames), len(u.ExpressionAttributeValues), c.names, c.numValues)
			}
			if pk, ok := u.Key["pk"].(*types.AttributeValueMemberS); !ok || pk.Value != "T#1" || aws.ToString(u.TableName) != "t" {
				t.Errorf("key %v of table %q", u.Key, aws.ToString(u.TableName))
			}
		})
	}
}

func TestUpdateRefusesAValueThatDoesNotEncode(t *testing.T) {
	if _, err := (Update{Table: "t", Set: map[string]any{"f": func() {}}}).Input(); err == nil {
		t.Fatal("a func encoded")
	}
}
