package identity

import (
	"context"
	"strings"
	"time"

	"workbench/shared/httpapi"
	"workbench/shared/ids"
)

// LoginLog is one login attempt. It never holds a password, a code or a
// token; the account or mobile typed is masked.
type LoginLog struct {
	ID        string    `json:"id" dynamodbav:"id"`
	MemberID  string    `json:"memberId,omitempty" dynamodbav:"memberId,omitempty"`
	Account   string    `json:"account" dynamodbav:"account"` // masked account (password) or mobile (sms)
	Method    string    `json:"method" dynamodbav:"method"`
	Result    string    `json:"result" dynamodbav:"result"` // success or failure
	Reason    string    `json:"reason,omitempty" dynamodbav:"reason,omitempty"`
	IP        string    `json:"ip" dynamodbav:"ip"`
	UserAgent string    `json:"userAgent" dynamodbav:"userAgent"`
	At        time.Time `json:"at" dynamodbav:"at"`
}

// Results of a login attempt.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// maxUserAgent bounds what a client can make us store.
const maxUserAgent = 256

// logEntry is a login attempt's entry in its tenant's login log.
type logEntry struct {
	tenantID string
	LoginLog
}

// entry is the log entry of attempt a, failed for reason ("" for a
// success).
func (a attempt) entry(reason string) logEntry {
	l := a.log
	l.ID, l.At, l.Reason, l.Result = ids.New(a.now), a.now.UTC(), reason, ResultSuccess
	if reason != "" {
		l.Result = ResultFailure
	}
	if len(l.UserAgent) > maxUserAgent {
		l.UserAgent = l.UserAgent[:maxUserAgent]
	}
	return logEntry{tenantID: a.tenant.ID, LoginLog: l}
}

// maskAccount keeps the first two and the last character of an account.
func maskAccount(a string) string {
	switch n := len(a); {
	case n <= 2:
		return strings.Repeat("*", n)
	case n <= 4:
		return a[:1] + strings.Repeat("*", n-1)
	default:
		return a[:2] + strings.Repeat("*", n-3) + a[n-1:]
	}
}

// LogFilter selects login logs. Zero fields select everything.
type LogFilter struct {
	MemberID string
	Result   string // success or failure
	From, To time.Time
	Cursor   string
	Limit    int
}

// Page sizes of the log list.
const (
	DefaultLogPage = 50
	MaxLogPage     = 100
)

// ParseLogFilter reads the query of GET /v1/admin/login-logs.
func ParseLogFilter(q map[string][]string) (LogFilter, error) {
	get := func(k string) string { return httpapi.QueryValue(q, k) }
	f := LogFilter{MemberID: get("member"), Result: get("result"), Cursor: get("cursor")}
	if f.Result != "" && f.Result != ResultSuccess && f.Result != ResultFailure {
		return f, httpapi.InvalidQuery("result", "result must be success or failure")
	}
	var err error
	if f.From, f.To, err = httpapi.Period(q); err != nil {
		return f, err
	}
	f.Limit, err = httpapi.Limit(q, DefaultLogPage, MaxLogPage)
	return f, err
}

// Logs lists a tenant's login logs newest first.
func (s *Service) Logs(ctx context.Context, tenantID string, f LogFilter) (httpapi.Page[LoginLog], error) {
	return s.Store.logs(ctx, tenantID, f)
}
