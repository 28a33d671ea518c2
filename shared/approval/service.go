package approval

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"workbench/shared/errs"
	"workbench/shared/ids"
	"workbench/shared/notice"
)

// Directory tells which of some member ids are enabled members of a
// tenant.
type Directory interface {
	Enabled(ctx context.Context, tenantID string, memberIDs []string) (map[string]bool, error)
}

// Service is the approvals app.
type Service struct {
	Store     Store
	Directory Directory
	Notices   notice.Sender
	Now       func() time.Time
}

// checkMembers answers 400 naming the first id that is not an enabled
// member of the tenant.
func (s *Service) checkMembers(ctx context.Context, tenantID string, fields []string, memberIDs []string) error {
	ok, err := s.Directory.Enabled(ctx, tenantID, memberIDs)
	if err != nil {
		return err
	}
	for i, m := range memberIDs {
		if !ok[m] {
			return errs.Invalidf(fields[i], "unknown_member", "%s is not an enabled member of this tenant", fields[i])
		}
	}
	return nil
}

// PutChain configures a form's approvers and CC list (admins only; the
// HTTP layer checks the role).
func (s *Service) PutChain(ctx context.Context, tenantID string, c Chain) (Chain, error) {
	if err := c.Normalize(); err != nil {
		return Chain{}, err
	}
	var fields, members []string
	for i, a := range c.Approvers {
		fields, members = append(fields, fmt.Sprintf("approvers[%d].memberId", i)), append(members, a.MemberID)
	}
	for i, m := range c.CC {
		fields, members = append(fields, fmt.Sprintf("cc[%d]", i)), append(members, m)
	}
	if err := s.checkMembers(ctx, tenantID, fields, members); err != nil {
		return Chain{}, err
	}
	c.UpdatedAt = s.Now().UTC()
	return c, s.Store.PutChain(ctx, tenantID, c)
}

// GetChain returns a form's chain (empty when not configured).
func (s *Service) GetChain(ctx context.Context, tenantID, form string) (Chain, error) {
	if !validForm(form) {
		return Chain{}, errs.NotFoundf("form_not_found", "no such form")
	}
	c, _, err := s.Store.GetChain(ctx, tenantID, form)
	return c, err
}

// Submit files a new approval for the applicant and notifies the first
// approver.
func (s *Service) Submit(ctx context.Context, tenantID, applicantID string, in SubmitInput) (*Approval, error) {
	if err := in.Normalize(); err != nil {
		return nil, err
	}
	chain, ok, err := s.Store.GetChain(ctx, tenantID, in.Form)
	if err != nil {
		return nil, err
	}
	if !ok || len(chain.Approvers) == 0 {
		return nil, errs.E(errs.Conflict, "chain_not_configured", "an admin has not configured the approvers of the %s form yet", in.Form)
	}
	// A chain member disabled since the admin configured it would leave the
	// approval stuck at their step: refuse until the admin fixes the chain.
	chainMembers := append([]string{}, chain.CC...)
	for _, ap := range chain.Approvers {
		chainMembers = append(chainMembers, ap.MemberID)
	}
	enabled, err := s.Directory.Enabled(ctx, tenantID, chainMembers)
	if err != nil {
		return nil, err
	}
	for _, m := range chainMembers {
		if !enabled[m] {
			return nil, errs.E(errs.Conflict, "chain_member_unavailable", "an approver or CC member of the %s form is no longer enabled; an admin must update the chain", in.Form)
		}
	}
	now := s.Now().UTC()
	a := &Approval{
		ID: ids.New(now), TenantID: tenantID, Form: in.Form, ApplicantID: applicantID, Status: Pending,
		CC: chain.CC, Leave: in.Leave, Outing: in.Outing, Reimbursement: in.Reimbursement,
		History:   []Action{{Action: "submitted", MemberID: applicantID, At: now}},
		CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	for _, ap := range chain.Approvers {
		a.Approvers = append(a.Approvers, ap.MemberID)
	}
	if a.CC == nil {
		a.CC = []string{}
	}
	if err := s.Store.Create(ctx, a); err != nil {
		return nil, err
	}
	s.notifyTurn(ctx, a)
	return a, nil
}

// Get returns an approval to a member involved in it (applicant, approver,
// CC) or an admin; to anyone else it does not exist.
func (s *Service) Get(ctx context.Context, tenantID, memberID string, admin bool, id string) (*Approval, error) {
	a, err := s.Store.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if !admin && !a.Involves(memberID) {
		return nil, errs.NotFoundf("approval_not_found", "no such approval")
	}
	return a, nil
}

// Decision is an approver's action.
type Decision struct {
	Comment string `json:"comment"`
}

// Approve moves the approval to its next step, or to approved after the
// last one.
func (s *Service) Approve(ctx context.Context, tenantID, memberID, id string, d Decision) (*Approval, error) {
	return s.act(ctx, tenantID, memberID, id, "approved", d.Comment)
}

// Reject ends the approval as rejected.
func (s *Service) Reject(ctx context.Context, tenantID, memberID, id string, d Decision) (*Approval, error) {
	return s.act(ctx, tenantID, memberID, id, "rejected", d.Comment)
}

func (s *Service) act(ctx context.Context, tenantID, memberID, id, action, comment string) (*Approval, error) {
	comment, err := text("comment", comment, 0, MaxCommentLen, true)
	if err != nil {
		return nil, err
	}
	a, err := s.Get(ctx, tenantID, memberID, false, id)
	if err != nil {
		return nil, err
	}
	if a.Status != Pending {
		return nil, errs.E(errs.Conflict, "approval_finished", "the approval is already %s", a.Status)
	}
	if a.CurrentApprover() != memberID {
		return nil, errs.E(errs.Conflict, "not_your_turn", "it is not your turn to act on this approval")
	}
	now := s.Now().UTC()
	a.History = append(a.History, Action{Action: action, MemberID: memberID, Step: a.Step + 1, Comment: comment, At: now})
	a.UpdatedAt, a.Version = now, a.Version+1
	next := ""
	switch {
	case action == "rejected":
		a.Status = Rejected
	case a.Step+1 >= len(a.Approvers):
		a.Status = Approved
	default:
		a.Step++
		next = a.Approvers[a.Step]
	}
	if err := s.Store.Update(ctx, a, memberID, next); err != nil {
		return nil, err
	}
	if next != "" {
		s.notifyTurn(ctx, a)
	} else {
		s.notifyResult(ctx, a)
	}
	return a, nil
}

// Withdraw ends a pending approval at the applicant's request.
func (s *Service) Withdraw(ctx context.Context, tenantID, memberID, id string) (*Approval, error) {
	a, err := s.Get(ctx, tenantID, memberID, false, id)
	if err != nil {
		return nil, err
	}
	if a.ApplicantID != memberID {
		return nil, errs.E(errs.Forbidden, "not_applicant", "only the applicant may withdraw an approval")
	}
	if a.Status != Pending {
		return nil, errs.E(errs.Conflict, "approval_finished", "the approval is already %s", a.Status)
	}
	now := s.Now().UTC()
	current := a.CurrentApprover()
	a.Status = Withdrawn
	a.History = append(a.History, Action{Action: "withdrawn", MemberID: memberID, At: now})
	a.UpdatedAt, a.Version = now, a.Version+1
	if err := s.Store.Update(ctx, a, current, ""); err != nil {
		return nil, err
	}
	return a, nil
}

// Notices are delivered after the state change commits, with ids derived
// from the approval and step, so a retry never notifies twice. A failed
// delivery is logged: the state change stands and the lists show it.
func (s *Service) notifyTurn(ctx context.Context, a *Approval) {
	s.deliver(ctx, notice.Notice{
		ID: fmt.Sprintf("approval-%s-step-%d", a.ID, a.Step+1), TenantID: a.TenantID, MemberID: a.CurrentApprover(),
		Kind: "approval_pending", Title: "An approval awaits you", Body: a.Title(),
		Data: map[string]string{"approvalId": a.ID, "form": a.Form}, CreatedAt: a.UpdatedAt,
	})
}

func (s *Service) notifyResult(ctx context.Context, a *Approval) {
	s.deliver(ctx, notice.Notice{
		ID: fmt.Sprintf("approval-%s-result", a.ID), TenantID: a.TenantID, MemberID: a.ApplicantID,
		Kind: "approval_result", Title: "Your approval was " + a.Status, Body: a.Title(),
		Data: map[string]string{"approvalId": a.ID, "form": a.Form, "status": a.Status}, CreatedAt: a.UpdatedAt,
	})
}

// deliver tries a few times: the state change has committed, so a notice
// lost to a throttled write would be lost for good (delivery is idempotent
// by id, so trying again never notifies twice).
func (s *Service) deliver(ctx context.Context, n notice.Notice) {
	var err error
	for range 3 {
		if err = s.Notices.Deliver(ctx, n); err == nil || !errs.Transient(err) {
			break
		}
	}
	if err != nil {
		slog.ErrorContext(ctx, "approval notice not delivered", "notice", n.ID, "error", err)
	}
}
