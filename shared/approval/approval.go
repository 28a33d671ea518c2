// Package approval is the approvals app: leave, outing and reimbursement
// forms that an applicant submits and approvers approve or reject in the
// order an admin configured, with a CC list, withdraw, inbox-style lists and
// a full history. Every state change is a conditional write on the
// approval's version, so two clicks at once cannot both act.
package approval

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"workbench/shared/errs"
	texts "workbench/shared/text"
)

// Forms.
const (
	FormLeave         = "leave"
	FormOuting        = "outing"
	FormReimbursement = "reimbursement"
)

// Forms lists the built-in forms.
var Forms = []string{FormLeave, FormOuting, FormReimbursement}

// States. An approval starts pending and ends in exactly one of the others.
const (
	Pending   = "pending"
	Approved  = "approved"
	Rejected  = "rejected"
	Withdrawn = "withdrawn"
)

// Limits.
const (
	MaxItems      = 100
	MaxApprovers  = 10
	MaxCC         = 20
	MaxReasonLen  = 500
	MaxCommentLen = 500
)

// Leave types.
var leaveTypes = map[string]bool{"annual": true, "sick": true, "personal": true, "other": true}

// Leave is a leave request. Start and End are calendar dates (inclusive);
// StartHalfDay means it starts at noon of Start, EndHalfDay that it ends at
// noon of End. Days is computed, in calendar days.
type Leave struct {
	Type         string `json:"type" dynamodbav:"type"`
	Start        string `json:"start" dynamodbav:"start"`
	End          string `json:"end" dynamodbav:"end"`
	StartHalfDay bool   `json:"startHalfDay" dynamodbav:"startHalfDay"`
	EndHalfDay   bool   `json:"endHalfDay" dynamodbav:"endHalfDay"`
	Reason       string `json:"reason" dynamodbav:"reason"`
	Days         string `json:"days" dynamodbav:"days"`
}

// Outing is a business trip or errand outside the office.
type Outing struct {
	Destination string    `json:"destination" dynamodbav:"destination"`
	Start       time.Time `json:"start" dynamodbav:"start"`
	End         time.Time `json:"end" dynamodbav:"end"`
	Reason      string    `json:"reason" dynamodbav:"reason"`
}

// Item is one line of a reimbursement.
type Item struct {
	Amount      string `json:"amount" dynamodbav:"amount"`
	Category    string `json:"category" dynamodbav:"category"`
	Description string `json:"description,omitempty" dynamodbav:"description,omitempty"`
}

// Reimbursement is a claim of expenses; Total is the exact sum of the items.
type Reimbursement struct {
	Currency string `json:"currency" dynamodbav:"currency"`
	Items    []Item `json:"items" dynamodbav:"items"`
	Total    string `json:"total" dynamodbav:"total"`
	Reason   string `json:"reason,omitempty" dynamodbav:"reason,omitempty"`
}

// Action is one entry of an approval's history.
type Action struct {
	Action   string    `json:"action" dynamodbav:"action"` // submitted, approved, rejected, withdrawn
	MemberID string    `json:"memberId" dynamodbav:"memberId"`
	Step     int       `json:"step,omitempty" dynamodbav:"step,omitempty"`
	Comment  string    `json:"comment,omitempty" dynamodbav:"comment,omitempty"`
	At       time.Time `json:"at" dynamodbav:"at"`
}

// Approval is one submitted form and its progress. Approvers is the chain
// as it was when submitted (a later change of the configuration does not
// move approvals in flight); Step is the index of the approver whose turn it
// is while pending.
type Approval struct {
	ID            string         `json:"id" dynamodbav:"id"`
	TenantID      string         `json:"-" dynamodbav:"tenantId"`
	Form          string         `json:"form" dynamodbav:"form"`
	ApplicantID   string         `json:"applicantId" dynamodbav:"applicantId"`
	Status        string         `json:"status" dynamodbav:"status"`
	Step          int            `json:"step" dynamodbav:"step"`
	Approvers     []string       `json:"approvers" dynamodbav:"approvers"`
	CC            []string       `json:"cc" dynamodbav:"cc"`
	Leave         *Leave         `json:"leave,omitempty" dynamodbav:"leave,omitempty"`
	Outing        *Outing        `json:"outing,omitempty" dynamodbav:"outing,omitempty"`
	Reimbursement *Reimbursement `json:"reimbursement,omitempty" dynamodbav:"reimbursement,omitempty"`
	History       []Action       `json:"history" dynamodbav:"history"`
	CreatedAt     time.Time      `json:"createdAt" dynamodbav:"createdAt"`
	UpdatedAt     time.Time      `json:"updatedAt" dynamodbav:"updatedAt"`
	Version       int            `json:"version" dynamodbav:"version"`
}

// CurrentApprover returns whose turn it is, or "" when finished.
func (a *Approval) CurrentApprover() string {
	if a.Status != Pending || a.Step >= len(a.Approvers) {
		return ""
	}
	return a.Approvers[a.Step]
}

// Involves reports whether member may see a.
func (a *Approval) Involves(member string) bool {
	if a.ApplicantID == member {
		return true
	}
	for _, m := range a.Approvers {
		if m == member {
			return true
		}
	}
	for _, m := range a.CC {
		if m == member {
			return true
		}
	}
	return false
}

// Summary is what the lists show of an approval.
type Summary struct {
	ID          string    `json:"id" dynamodbav:"id"`
	Form        string    `json:"form" dynamodbav:"form"`
	ApplicantID string    `json:"applicantId" dynamodbav:"applicantId"`
	Status      string    `json:"status" dynamodbav:"status"`
	Title       string    `json:"title" dynamodbav:"title"`
	CreatedAt   time.Time `json:"createdAt" dynamodbav:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt" dynamodbav:"updatedAt"`
}

// Summary returns a's list entry.
func (a *Approval) Summary() Summary {
	return Summary{ID: a.ID, Form: a.Form, ApplicantID: a.ApplicantID, Status: a.Status, Title: a.Title(), CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// Title is a one-line description for lists and notices (no personal data).
func (a *Approval) Title() string {
	switch {
	case a.Leave != nil:
		return fmt.Sprintf("Leave (%s) %s to %s, %s days", a.Leave.Type, a.Leave.Start, a.Leave.End, a.Leave.Days)
	case a.Outing != nil:
		return fmt.Sprintf("Outing %s to %s", a.Outing.Start.Format(time.RFC3339), a.Outing.End.Format(time.RFC3339))
	case a.Reimbursement != nil:
		return fmt.Sprintf("Reimbursement %s %s (%d items)", a.Reimbursement.Total, a.Reimbursement.Currency, len(a.Reimbursement.Items))
	}
	return a.Form
}

// SubmitInput is the body of a submission: the form and its fields.
type SubmitInput struct {
	Form          string         `json:"form"`
	Leave         *Leave         `json:"leave"`
	Outing        *Outing        `json:"outing"`
	Reimbursement *Reimbursement `json:"reimbursement"`
}

// Normalize validates in and computes the derived fields (leave days,
// reimbursement total). Errors name the field at fault.
func (in *SubmitInput) Normalize() error {
	set := 0
	for _, p := range []bool{in.Leave != nil, in.Outing != nil, in.Reimbursement != nil} {
		if p {
			set++
		}
	}
	switch in.Form {
	case FormLeave:
		if in.Leave == nil || set != 1 {
			return errs.Invalidf("leave", "form_mismatch", "a leave form carries exactly the object leave")
		}
		return in.Leave.normalize()
	case FormOuting:
		if in.Outing == nil || set != 1 {
			return errs.Invalidf("outing", "form_mismatch", "an outing form carries exactly the object outing")
		}
		return in.Outing.normalize()
	case FormReimbursement:
		if in.Reimbursement == nil || set != 1 {
			return errs.Invalidf("reimbursement", "form_mismatch", "a reimbursement form carries exactly the object reimbursement")
		}
		return in.Reimbursement.normalize()
	}
	return errs.Invalidf("form", "invalid_form", "form must be one of %s", strings.Join(Forms, ", "))
}

// text trims a field a person reads and checks its length and its
// characters: multi-line fields may hold tabs and line breaks.
func text(field, s string, min, max int, multiline bool) (string, error) {
	s = strings.TrimSpace(s)
	check := texts.Line
	if multiline {
		check = texts.Lines
	}
	if err := check(field, s); err != nil {
		return "", err
	}
	if n := utf8.RuneCountInString(s); n < min || n > max {
		if min > 0 && n == 0 {
			return "", errs.Invalidf(field, "required", "%s is required", field)
		}
		return "", errs.Invalidf(field, "invalid_length", "%s must be %d to %d characters", field, min, max)
	}
	return s, nil
}

func (l *Leave) normalize() error {
	if !leaveTypes[l.Type] {
		return errs.Invalidf("leave.type", "invalid_leave_type", "leave.type must be annual, sick, personal or other")
	}
	start, err := time.Parse(time.DateOnly, l.Start)
	if err != nil {
		return errs.Invalidf("leave.start", "invalid_date", "leave.start must be a date YYYY-MM-DD")
	}
	end, err := time.Parse(time.DateOnly, l.End)
	if err != nil {
		return errs.Invalidf("leave.end", "invalid_date", "leave.end must be a date YYYY-MM-DD")
	}
	if end.Before(start) {
		return errs.Invalidf("leave.end", "end_before_start", "leave.end is before leave.start")
	}
	// Half days: counted in half-day units so the sum stays exact.
	halves := (int(end.Sub(start).Hours()/24) + 1) * 2
	if l.StartHalfDay {
		halves--
	}
	if l.EndHalfDay {
		halves--
	}
	if halves <= 0 {
		return errs.Invalidf("leave.endHalfDay", "end_before_start", "a leave that starts at noon cannot end at noon of the same day")
	}
	if halves > 2*366 {
		return errs.Invalidf("leave.end", "too_long", "a leave is at most 366 days")
	}
	l.Days = fmt.Sprintf("%d", halves/2)
	if halves%2 == 1 {
		l.Days += ".5"
	}
	l.Reason, err = text("leave.reason", l.Reason, 0, MaxReasonLen, true)
	return err
}

func (o *Outing) normalize() error {
	var err error
	if o.Destination, err = text("outing.destination", o.Destination, 1, 100, false); err != nil {
		return err
	}
	if o.Start.IsZero() {
		return errs.Invalidf("outing.start", "required", "outing.start is required (RFC 3339)")
	}
	if o.End.IsZero() {
		return errs.Invalidf("outing.end", "required", "outing.end is required (RFC 3339)")
	}
	if !o.End.After(o.Start) {
		return errs.Invalidf("outing.end", "end_before_start", "outing.end must be after outing.start")
	}
	o.Start, o.End = o.Start.UTC(), o.End.UTC()
	o.Reason, err = text("outing.reason", o.Reason, 0, MaxReasonLen, true)
	return err
}

func (r *Reimbursement) normalize() error {
	if r.Currency == "" {
		r.Currency = "CNY"
	}
	if len(r.Currency) != 3 || strings.ToUpper(r.Currency) != r.Currency || strings.ContainsFunc(r.Currency, func(c rune) bool { return c < 'A' || c > 'Z' }) {
		return errs.Invalidf("reimbursement.currency", "invalid_currency", "reimbursement.currency must be an ISO 4217 code such as CNY")
	}
	if len(r.Items) == 0 {
		return errs.Invalidf("reimbursement.items", "required", "reimbursement.items needs at least one item")
	}
	if len(r.Items) > MaxItems {
		return errs.Invalidf("reimbursement.items", "too_many_items", "reimbursement.items has at most %d items", MaxItems)
	}
	var total Amount
	for i := range r.Items {
		it := &r.Items[i]
		field := fmt.Sprintf("reimbursement.items[%d]", i)
		a, err := ParseAmount(field+".amount", it.Amount)
		if err != nil {
			return err
		}
		it.Amount = a.String()
		total += a
		if it.Category, err = text(field+".category", it.Category, 1, 20, false); err != nil {
			return err
		}
		if it.Description, err = text(field+".description", it.Description, 0, 200, false); err != nil {
			return err
		}
	}
	r.Total = total.String()
	var err error
	r.Reason, err = text("reimbursement.reason", r.Reason, 0, MaxReasonLen, true)
	return err
}

// Chain is an admin's configuration of a form: approvers act in order,
// CC members are told and may read the approval.
type Chain struct {
	Form      string     `json:"form" dynamodbav:"form"`
	Approvers []Approver `json:"approvers" dynamodbav:"approvers"`
	CC        []string   `json:"cc" dynamodbav:"cc"`
	UpdatedAt time.Time  `json:"updatedAt" dynamodbav:"updatedAt"`
}

// Approver is one step of a chain. Only members for now: the directory has
// no department heads yet (see docs/apps.md).
type Approver struct {
	MemberID string `json:"memberId" dynamodbav:"memberId"`
}

// Normalize validates a chain's shape (membership is checked by the service).
func (c *Chain) Normalize() error {
	if !validForm(c.Form) {
		return errs.Invalidf("form", "invalid_form", "form must be one of %s", strings.Join(Forms, ", "))
	}
	if len(c.Approvers) == 0 {
		return errs.Invalidf("approvers", "required", "approvers needs at least one approver")
	}
	if len(c.Approvers) > MaxApprovers {
		return errs.Invalidf("approvers", "too_many_approvers", "approvers has at most %d steps", MaxApprovers)
	}
	for i, a := range c.Approvers {
		if strings.TrimSpace(a.MemberID) == "" {
			return errs.Invalidf(fmt.Sprintf("approvers[%d].memberId", i), "required", "each approver needs a memberId")
		}
	}
	if c.CC == nil {
		c.CC = []string{}
	}
	if len(c.CC) > MaxCC {
		return errs.Invalidf("cc", "too_many_cc", "cc has at most %d members", MaxCC)
	}
	seen := map[string]bool{}
	for i, m := range c.CC {
		if m == "" {
			return errs.Invalidf(fmt.Sprintf("cc[%d]", i), "required", "cc entries are member ids")
		}
		if seen[m] {
			return errs.Invalidf(fmt.Sprintf("cc[%d]", i), "duplicate_member", "cc names a member twice")
		}
		seen[m] = true
	}
	return nil
}

func validForm(f string) bool {
	for _, x := range Forms {
		if x == f {
			return true
		}
	}
	return false
}
