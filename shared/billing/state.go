// Package billing is a tenant's subscription: its lifecycle states, derived
// from time alone (valid → grace → retention → released), the expiry notice
// settings, and the scan that sends each expiry warning exactly once.
//
// The state arithmetic here is what the member middleware (shared/auth)
// calls on every request, so this package must never import auth.
package billing

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

// State is where a subscription is in its lifecycle.
type State string

// States, in the order a subscription that is not renewed goes through them.
const (
	Valid     State = "valid"     // until expiry
	Grace     State = "grace"     // service goes on, admins are warned
	Retention State = "retention" // read-only; admins may log in to renew
	Released  State = "released"  // no access; data kept until an operator purges it
)

// Defaults of a subscription's periods.
const (
	DefaultGraceDays     = 7
	DefaultRetentionDays = 15
	// MaxPeriodDays bounds grace and retention periods: a typo of a few
	// thousand days would keep a tenant alive for years.
	MaxPeriodDays = 366
)

// Subscription is a tenant's plan and when it runs out.
type Subscription struct {
	Plan          string
	ExpiresAt     time.Time
	GraceDays     int
	RetentionDays int
}

// GraceEnds is when the grace period ends and retention begins. Periods
// count whole 24-hour days from the expiry instant, so they do not depend on
// any timezone.
func (s Subscription) GraceEnds() time.Time {
	return s.ExpiresAt.Add(time.Duration(s.GraceDays) * 24 * time.Hour)
}

// RetentionEnds is when the subscription is released.
func (s Subscription) RetentionEnds() time.Time {
	return s.GraceEnds().Add(time.Duration(s.RetentionDays) * 24 * time.Hour)
}

// StateAt is the state at now.
func (s Subscription) StateAt(now time.Time) State {
	switch {
	case now.Before(s.ExpiresAt):
		return Valid
	case now.Before(s.GraceEnds()):
		return Grace
	case now.Before(s.RetentionEnds()):
		return Retention
	}
	return Released
}

// Allow says whether a member request with the given HTTP method may run in
// state st: everything while valid or in grace, reads only in retention,
// nothing once released. A tenant with no subscription is valid.
func Allow(st State, method string) error {
	switch st {
	case Released:
		return errs.E(errs.Forbidden, "subscription_released", "the subscription of this enterprise has been released; ask the platform operator to renew it")
	case Retention:
		if method != "GET" && method != "HEAD" {
			return errs.E(errs.Forbidden, "subscription_retention", "the subscription of this enterprise has expired and is in its retention period: data is read-only until an admin renews it")
		}
	}
	return nil
}

// Items of the tenants table, whose keys and decoders billing owns (the
// tenant package goes through them): a tenant's subscription, notice
// settings and notice bookkeeping live in the tenant's partition, beside the
// tenant item.
const (
	tenantPrefix = "TENANT#"
	// SubscriptionSK is the sort key of the item holding the subscription
	// and the notice settings.
	SubscriptionSK = "SUBSCRIPTION"
)

// Key is the primary key of tenant code's subscription item.
func Key(code string) map[string]types.AttributeValue { return itemKey(code, SubscriptionSK) }

// Projection is what the member middleware reads of the subscription item:
// enough for StateAt, and the tenant id to check the item is the caller's.
const Projection = "tenantId, expiresAt, graceDays, retentionDays"

// StateOf returns the state at now of a subscription item read with
// Projection. A missing item, or one with no subscription set, is Valid: a
// tenant the operator never gave a subscription runs without expiry.
func StateOf(item map[string]types.AttributeValue, tenantID string, now time.Time) (State, error) {
	if item == nil {
		return Valid, nil
	}
	var rec struct {
		TenantID      string     `dynamodbav:"tenantId"`
		ExpiresAt     *time.Time `dynamodbav:"expiresAt"`
		GraceDays     int        `dynamodbav:"graceDays"`
		RetentionDays int        `dynamodbav:"retentionDays"`
	}
	if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
		return "", errs.Wrap(err, "decode subscription")
	}
	if rec.TenantID != tenantID {
		return "", errs.Wrap(errs.E(errs.Internal, "internal", "subscription item of tenant %s read for tenant %s", rec.TenantID, tenantID), "check subscription")
	}
	if rec.ExpiresAt == nil {
		return Valid, nil
	}
	return Subscription{ExpiresAt: *rec.ExpiresAt, GraceDays: rec.GraceDays, RetentionDays: rec.RetentionDays}.StateAt(now), nil
}
