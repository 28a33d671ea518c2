package billing

import (
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/directory"
)

// DuePK is the partition of the due index (gsi1 of the tenants table) that
// holds every subscription item with a notice still to send, sorted by when
// the next one falls due. Items with nothing left to send leave the index
// (its keys are removed), so the scan reads only what is due.
const DuePK = "DUE"

// Record is the subscription item of a tenant: the subscription the
// operator set (absent until one is), the notice settings the admins saved
// (absent until saved) and the notice bookkeeping of the current cycle.
type Record struct {
	PK            string     `dynamodbav:"pk"`
	SK            string     `dynamodbav:"sk"`
	Type          string     `dynamodbav:"type"`
	TenantID      string     `dynamodbav:"tenantId"`
	TenantCode    string     `dynamodbav:"code"`
	Plan          string     `dynamodbav:"plan,omitempty"`
	ExpiresAt     *time.Time `dynamodbav:"expiresAt,omitempty"`
	GraceDays     int        `dynamodbav:"graceDays"`
	RetentionDays int        `dynamodbav:"retentionDays"`
	// Since is when the expiry was last set; Cycle names that expiry (it
	// changes with it) and is part of every notice id of the cycle; Done
	// lists the cycle's steps sent or passed over.
	Since         *time.Time `dynamodbav:"since,omitempty"`
	Cycle         string     `dynamodbav:"cycle,omitempty"`
	Done          []string   `dynamodbav:"done"`
	Settings      *Settings  `dynamodbav:"settings,omitempty"`
	SettingsSince *time.Time `dynamodbav:"settingsSince,omitempty"`
	// To is the snapshot of the recipients the scan last sent to, kept so
	// that a due row carries what its notices need; every claim checks it
	// is still current, and the scan takes a new one when it is not.
	To        *directory.Recipients `dynamodbav:"to,omitempty"`
	UpdatedAt time.Time             `dynamodbav:"updatedAt"`
	Version   int                   `dynamodbav:"version"`
	DuePK     string                `dynamodbav:"gsi1pk,omitempty"`
	DueSK     string                `dynamodbav:"gsi1sk,omitempty"`
}

// NewRecord returns the empty subscription item of a tenant.
func NewRecord(tenantID, code string) Record {
	return Record{PK: TenantPK(code), SK: SubscriptionSK, Type: "subscription", TenantID: tenantID, TenantCode: code, Done: []string{}}
}

// Subscription returns the subscription, or ok false when none is set.
func (r Record) Subscription() (Subscription, bool) {
	if r.ExpiresAt == nil {
		return Subscription{}, false
	}
	return Subscription{Plan: r.Plan, ExpiresAt: *r.ExpiresAt, GraceDays: r.GraceDays, RetentionDays: r.RetentionDays}, true
}

// EffectiveSettings are the saved settings, or the defaults.
func (r Record) EffectiveSettings() Settings {
	if r.Settings == nil {
		return DefaultSettings()
	}
	return *r.Settings
}

// Schedule returns the notice schedule of the current cycle.
func (r Record) Schedule() (Plan, bool) {
	sub, ok := r.Subscription()
	if !ok {
		return Plan{}, false
	}
	p := Plan{Sub: sub, Settings: r.EffectiveSettings(), Done: r.Done}
	if r.Since != nil {
		p.Since = *r.Since
	}
	if r.SettingsSince != nil {
		p.SettingsSince = *r.SettingsSince
	}
	return p, true
}

// dueLayout sorts as text in time order (fixed width, UTC).
const dueLayout = "2006-01-02T15:04:05Z"

// Reindex sets the item's place in the due index from its schedule, or
// takes it out when nothing is left to send.
func (r *Record) Reindex() error {
	r.DuePK, r.DueSK = "", ""
	p, ok := r.Schedule()
	if !ok {
		return nil
	}
	at, ok, err := p.Next()
	if err != nil || !ok {
		return err
	}
	r.DuePK, r.DueSK = DuePK, at.UTC().Format(dueLayout)+"#"+r.TenantCode
	return nil
}

// dueBound is the upper bound of the due index's sort keys due at now.
func dueBound(now time.Time) string { return now.UTC().Format(dueLayout) + "#~" }

// Item encodes the record as its DynamoDB item.
func (r Record) Item() (map[string]types.AttributeValue, error) {
	if r.Done == nil {
		r.Done = []string{}
	}
	return attributevalue.MarshalMap(r)
}

func decodeRecord(item map[string]types.AttributeValue) (Record, error) {
	var r Record
	err := attributevalue.UnmarshalMap(item, &r)
	if strings.HasPrefix(r.DuePK, DuePK) {
		r.DuePK = DuePK // whichever shard holds it
	}
	return r, err
}
