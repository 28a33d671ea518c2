package directory

import (
	"context"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

// Contacts ranks each member's frequent contacts by a decayed score: every
// contact (a message sent, a manual add) adds weight that halves every
// ScoreHalfLife, so frequency and recency both count. The score is stored
// scaled to a fixed epoch (weight 2^((t-epoch)/halfLife)), which makes a
// contact a single atomic ADD and keeps the order the same at any later
// time; the score shown is rescaled to now.
type Contacts struct {
	DB      DB
	Codec   *Codec
	Members *Service
	Now     func() time.Time
}

// Frequent-contact tuning.
const (
	ScoreHalfLife   = 14 * 24 * time.Hour
	ManualWeight    = 5  // a manual add counts as five contacts now
	MaxFrequent     = 20 // the list shows the top 20
	maxTouch        = 50 // contacts touched per message (a big group touches its first 50)
	maxContactItems = 1000
)

var scoreEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func weight(at time.Time) float64 {
	return math.Exp2(float64(at.Sub(scoreEpoch)) / float64(ScoreHalfLife))
}

func contactKey(tenantID, memberID, contactID string) map[string]types.AttributeValue {
	return key(tenantID, contactPrefix(memberID)+contactID)
}

// Contact is one entry of a member's frequent contacts.
type Contact struct {
	Member Member    `json:"member"`
	Score  float64   `json:"score"`
	Count  int       `json:"count"`
	LastAt time.Time `json:"lastAt"`
	Manual bool      `json:"manual"`
}

func (c *Contacts) add(ctx context.Context, tenantID, memberID, contactID string, at time.Time, w float64, manual bool) error {
	expr := "ADD score :w, #c :one SET lastAt = :at, tenantId = :t, memberId = :m, contactId = :x, #ty = :ty"
	vals := map[string]types.AttributeValue{
		":w":   &types.AttributeValueMemberN{Value: strconv.FormatFloat(w, 'g', 15, 64)},
		":one": avn(1), ":at": avs(at.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)),
		":t": avs(tenantID), ":m": avs(memberID), ":x": avs(contactID), ":ty": avs("contact"),
	}
	if manual {
		expr += ", manual = :true"
		vals[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	_, err := c.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(c.Codec.Table), Key: contactKey(tenantID, memberID, contactID),
		UpdateExpression:          aws.String(expr),
		ExpressionAttributeNames:  map[string]string{"#c": "count", "#ty": "type"},
		ExpressionAttributeValues: vals,
	})
	return errs.Wrap(err, "touch contact")
}

// Touch records that memberID contacted contactIDs at a time (chat calls it
// for every message sent). Unknown ids cost nothing but an entry the list
// never shows; the member itself is skipped.
func (c *Contacts) Touch(ctx context.Context, tenantID, memberID string, contactIDs []string, at time.Time) error {
	done := 0
	for _, id := range contactIDs {
		if id == "" || id == memberID || done >= maxTouch {
			continue
		}
		done++
		if err := c.add(ctx, tenantID, memberID, id, at, weight(at), false); err != nil {
			return err
		}
	}
	return nil
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
	return c.add(ctx, tenantID, memberID, contactID, now, ManualWeight*weight(now), true)
}

// Remove takes a contact off memberID's list (a later message puts it back).
func (c *Contacts) Remove(ctx context.Context, tenantID, memberID, contactID string) error {
	_, err := c.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(c.Codec.Table), Key: contactKey(tenantID, memberID, contactID)})
	return errs.Wrap(err, "remove contact")
}

// List returns memberID's top frequent contacts, best first.
func (c *Contacts) List(ctx context.Context, tenantID, memberID string) ([]Contact, error) {
	type entry struct {
		id     string
		score  float64
		count  int
		lastAt time.Time
		manual bool
	}
	var entries []entry
	var start map[string]types.AttributeValue
	for len(entries) < maxContactItems {
		res, err := c.DB.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(c.Codec.Table),
			KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": avs(TenantPK(tenantID)), ":p": avs(contactPrefix(memberID)),
			},
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, errs.Wrap(err, "list contacts")
		}
		for _, it := range res.Items {
			at, _ := time.Parse(time.RFC3339Nano, str(it["lastAt"]))
			manual := false
			if b, ok := it["manual"].(*types.AttributeValueMemberBOOL); ok {
				manual = b.Value
			}
			entries = append(entries, entry{str(it["contactId"]), num(it["score"]), int(num(it["count"])), at, manual})
		}
		if start = res.LastEvaluatedKey; start == nil {
			break
		}
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].score != entries[j].score {
			return entries[i].score > entries[j].score
		}
		return entries[i].id < entries[j].id
	})
	// Read a few more than shown: some may have left the tenant.
	entries = entries[:min(len(entries), MaxFrequent+10)]
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.id
	}
	members, err := c.Members.Members(ctx, tenantID, ids)
	if err != nil {
		return nil, err
	}
	scale := 1 / weight(c.Now().UTC())
	out := []Contact{}
	for _, e := range entries {
		i := slices.IndexFunc(members, func(m Member) bool { return m.ID == e.id })
		if i < 0 || len(out) == MaxFrequent {
			continue
		}
		out = append(out, Contact{Member: members[i], Score: math.Round(e.score*scale*1000) / 1000, Count: e.count, LastAt: e.lastAt, Manual: e.manual})
	}
	return out, nil
}
