package directory

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

// Recipients is a snapshot of whom a tenant's notices go to: the members
// named, or when none are named the enabled admins, each with the version
// of its item and its mobile sealed as the item holds it. A sender keeps it
// with its own record and, in the transaction that claims each delivery,
// checks it is still current (Codec.RecipientChecks), so that a current
// snapshot costs no read and a stale one is never acted on.
type Recipients struct {
	Named []string `dynamodbav:"named"` // ids asked for; empty: the admins
	// AdminsRev is the revision of the tenant's admin set the snapshot was
	// taken at (admins only); every change of who is an enabled admin moves
	// it.
	AdminsRev int         `dynamodbav:"adminsRev"`
	Members   []Recipient `dynamodbav:"members"`
}

// Recipient is one member of a snapshot.
type Recipient struct {
	ID      string `dynamodbav:"id"`
	Version int    `dynamodbav:"version"` // 0: no such member
	Send    bool   `dynamodbav:"send"`    // enabled (and an admin, for the admins)
	Mobile  string `dynamodbav:"mobile"`  // sealed; Roster.Mobile opens it
}

// For says whether the snapshot answers for the members named (nil: the
// admins).
func (rs Recipients) For(named []string) bool {
	return slices.Equal(rs.Named, named) || len(rs.Named) == 0 && len(named) == 0
}

// adminsRecord is the ADMINS item.
type adminsRecord struct {
	Admins int      `dynamodbav:"admins"`
	Rev    int      `dynamodbav:"rev"`
	IDs    []string `dynamodbav:"ids,stringset,omitempty"`
}

// Recipients takes a snapshot of the members named, or of the enabled
// admins when named is empty: one read of the admin set, then one
// BatchGetItem of the members.
func (d *Roster) Recipients(ctx context.Context, tenantID string, named []string) (Recipients, error) {
	if len(named) > 0 {
		return d.snapshot(ctx, tenantID, Recipients{Named: append([]string{}, named...)}, named)
	}
	var rs Recipients
	for range 3 {
		ids, rev, err := d.admins(ctx, tenantID)
		if err != nil {
			return Recipients{}, err
		}
		rs, err = d.snapshot(ctx, tenantID, Recipients{Named: []string{}, AdminsRev: rev}, ids)
		if err != nil {
			return Recipients{}, err
		}
		// The set and the members are two reads: an admin that is no
		// longer one (or gone) between them means the set changed; read
		// both again rather than keep a snapshot that could name nobody.
		if !slices.ContainsFunc(rs.Members, func(r Recipient) bool { return !r.Send }) {
			break
		}
	}
	return rs, nil
}

// snapshot reads the members ids into rs.
func (d *Roster) snapshot(ctx context.Context, tenantID string, rs Recipients, ids []string) (Recipients, error) {
	items, err := batchGet(ctx, d.DB, d.Table, d.keys(tenantID, ids))
	if err != nil {
		return Recipients{}, errs.Wrap(err, "read recipients")
	}
	found := map[string]memberRecord{}
	for _, it := range items {
		var rec memberRecord
		if err := attributevalue.UnmarshalMap(it, &rec); err != nil {
			return Recipients{}, errs.Wrap(err, "decode member")
		}
		found[rec.ID] = rec
	}
	for _, id := range ids {
		rec := found[id]
		send := rec.Enabled && (len(rs.Named) > 0 || rec.Role == RoleAdmin)
		rs.Members = append(rs.Members, Recipient{ID: id, Version: rec.Version, Send: send, Mobile: rec.Mobile})
	}
	return rs, nil
}

// Admins returns the tenant's enabled admins, personal data opened.
func (d *Roster) Admins(ctx context.Context, tenantID string) ([]Member, error) {
	ids, _, err := d.admins(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	list, err := d.Members(ctx, tenantID, ids)
	return slices.DeleteFunc(list, func(m Member) bool { return !countsAsAdmin(m) }), err
}

// admins returns the ids of the tenant's enabled admins and the revision
// of their set. An ADMINS item written before it kept ids holds fewer ids
// than its count for as long as one of the admins of then stays an admin
// (removals take ids out, additions put them in): then the member items
// are queried instead, which reads every member of the tenant.
func (d *Roster) admins(ctx context.Context, tenantID string) ([]string, int, error) {
	out, err := d.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(d.Table), Key: key(tenantID, adminsSK), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, 0, errs.Wrap(err, "read admins")
	}
	var rec adminsRecord
	if err := attributevalue.UnmarshalMap(out.Item, &rec); err != nil {
		return nil, 0, errs.Wrap(err, "decode admins")
	}
	if len(rec.IDs) == rec.Admins {
		slices.Sort(rec.IDs)
		return rec.IDs, rec.Rev, nil
	}
	var ids []string
	err = d.query(ctx, tenantID, MemberSK(""), "", func(item map[string]types.AttributeValue) error {
		var m memberRecord
		if err := attributevalue.UnmarshalMap(item, &m); err != nil {
			return errs.Wrap(err, "decode member")
		}
		if m.Role == RoleAdmin && m.Enabled {
			ids = append(ids, m.ID)
		}
		return nil
	})
	return ids, rec.Rev, err
}

func (d *Roster) keys(tenantID string, ids []string) []map[string]types.AttributeValue {
	keys := make([]map[string]types.AttributeValue, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, key(tenantID, MemberSK(id)))
	}
	return keys
}

// Mobile opens the mobile of a snapshot's member.
func (d *Roster) Mobile(tenantID string, r Recipient) (string, error) {
	if r.Mobile == "" {
		return "", nil
	}
	m, err := d.Codec.Keys.Open(r.Mobile, memberAAD(tenantID, r.ID, "mobile"))
	if err != nil {
		return "", errs.Wrap(err, "open mobile")
	}
	return m, nil
}

// RecipientChecks are the condition checks that keep a delivery to
// memberID from acting on a stale snapshot: the member's item is at the
// snapshot's version and, for the admins, the admin set at its revision;
// for members named, every one of them is at its version (one re-enabled
// joins the recipients).
func (c *Codec) RecipientChecks(tenantID string, rs Recipients, memberID string) []types.TransactWriteItem {
	var out []types.TransactWriteItem
	for _, r := range rs.Members {
		if len(rs.Named) == 0 && r.ID != memberID {
			continue
		}
		out = append(out, c.versionCheck(key(tenantID, MemberSK(r.ID)), "version", r.Version))
	}
	if len(rs.Named) == 0 {
		out = append(out, c.versionCheck(key(tenantID, adminsSK), "rev", rs.AdminsRev))
	}
	return out
}

// versionCheck holds when attr of the item at k is v, or absent for 0.
func (c *Codec) versionCheck(k map[string]types.AttributeValue, attr string, v int) types.TransactWriteItem {
	check := &types.ConditionCheck{TableName: aws.String(c.Table), Key: k, ExpressionAttributeNames: map[string]string{"#v": attr}}
	if v == 0 {
		check.ConditionExpression = aws.String("attribute_not_exists(#v)")
	} else {
		check.ConditionExpression = aws.String("#v = :v")
		check.ExpressionAttributeValues = map[string]types.AttributeValue{":v": avn(v)}
	}
	return types.TransactWriteItem{ConditionCheck: check}
}
