package chat

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"workbench/shared/auth"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
	"workbench/shared/notice"
)

// HTTP serves the chat routes. The send routes (RegisterSend) and the rest
// (Register) run as two functions: sending is a capability of its own.
type HTTP struct {
	Service *Service
	Notices *notice.DynamoStore // for Register only
	Auth    *auth.Members
}

// RegisterSend adds the routes that send messages.
func (h *HTTP) RegisterSend(r *httpapi.Router) {
	r.Handle("POST /v1/conversations/{id}/messages", h.Auth.Require(h.send))
	r.Handle("POST /v1/rocket-messages", h.Auth.Require(h.rocket))
}

// Register adds the routes that create, list, read and manage
// conversations, the notice inbox and the chat settings.
func (h *HTTP) Register(r *httpapi.Router) {
	r.Handle("POST /v1/conversations", h.Auth.Require(h.create))
	r.Handle("GET /v1/conversations", h.Auth.Require(h.list))
	r.Handle("GET /v1/conversations/{id}", h.Auth.Require(h.get))
	r.Handle("PATCH /v1/conversations/{id}", h.Auth.Require(h.rename))
	r.Handle("DELETE /v1/conversations/{id}", h.Auth.Require(h.hide))
	r.Handle("GET /v1/conversations/{id}/messages", h.Auth.Require(h.history))
	r.Handle("POST /v1/conversations/{id}/read", h.Auth.Require(h.read))
	r.Handle("PUT /v1/conversations/{id}/pin", h.Auth.Require(h.pin(true)))
	r.Handle("DELETE /v1/conversations/{id}/pin", h.Auth.Require(h.pin(false)))
	r.Handle("POST /v1/conversations/{id}/members", h.Auth.Require(h.addMembers))
	r.Handle("DELETE /v1/conversations/{id}/members/{memberId}", h.Auth.Require(h.removeMember))
	r.Handle("POST /v1/conversations/{id}/leave", h.Auth.Require(h.leave))
	r.Handle("GET /v1/messages/{id}/reads", h.Auth.Require(h.reads))
	r.Handle("GET /v1/me/notices", h.Auth.Require(h.notices))
	r.Handle("POST /v1/me/notices/{id}/read", h.Auth.Require(h.noticeRead))
	r.Handle("GET /v1/admin/chat-settings", h.Auth.RequireAdmin(h.settings))
	r.Handle("PUT /v1/admin/chat-settings", h.Auth.RequireAdmin(h.putSettings))
}

func (h *HTTP) send(w http.ResponseWriter, r *http.Request) error {
	var in SendInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	m, err := h.Service.Send(r.Context(), auth.PrincipalOf(r.Context()), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusCreated, m)
	return nil
}

func (h *HTTP) rocket(w http.ResponseWriter, r *http.Request) error {
	var in RocketInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	out, err := h.Service.SendRocket(r.Context(), auth.PrincipalOf(r.Context()), in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusCreated, out)
	return nil
}

func (h *HTTP) create(w http.ResponseWriter, r *http.Request) error {
	var in CreateInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	c, created, err := h.Service.Create(r.Context(), auth.PrincipalOf(r.Context()), in)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpapi.JSON(w, status, c)
	return nil
}

func (h *HTTP) list(w http.ResponseWriter, r *http.Request) error {
	limit, err := limitOf(r, 50)
	if err != nil {
		return err
	}
	p, query := auth.PrincipalOf(r.Context()), r.URL.Query()
	var items []Conversation
	var next string
	if query.Has("q") {
		items, next, err = h.Service.SearchGroups(r.Context(), p, query.Get("q"), query.Get("cursor"), limit)
	} else {
		items, next, err = h.Service.List(r.Context(), p, query.Get("cursor"), limit)
	}
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, httpapi.Page[Conversation]{Items: items, NextCursor: next})
	return nil
}

func (h *HTTP) get(w http.ResponseWriter, r *http.Request) error {
	c, err := h.Service.Get(r.Context(), auth.PrincipalOf(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, c)
	return nil
}

func (h *HTTP) rename(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	c, err := h.Service.Rename(r.Context(), auth.PrincipalOf(r.Context()), r.PathValue("id"), in.Name)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, c)
	return nil
}

func (h *HTTP) hide(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.Hide(r.Context(), auth.PrincipalOf(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	httpapi.NoContent(w)
	return nil
}

func (h *HTTP) history(w http.ResponseWriter, r *http.Request) error {
	limit, err := limitOf(r, 30)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Has("afterSeq") {
		return h.catchUp(w, r, limit)
	}
	before := q.Get("before")
	if c := q.Get("cursor"); c != "" {
		before = c
	}
	msgs, next, err := h.Service.History(r.Context(), auth.PrincipalOf(r.Context()), r.PathValue("id"), before, limit)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, httpapi.Page[Message]{Items: msgs, NextCursor: next})
	return nil
}

// catchUp answers ?afterSeq=N: the messages after seq N, oldest first, for
// a client catching up after a reconnect. A full page may have more after
// it: the client asks again from the last seq it got.
func (h *HTTP) catchUp(w http.ResponseWriter, r *http.Request, limit int) error {
	q := r.URL.Query()
	if q.Has("before") || q.Has("cursor") {
		return errs.Invalidf("afterSeq", "invalid_query", "afterSeq cannot be combined with before or cursor")
	}
	after, err := strconv.ParseInt(q.Get("afterSeq"), 10, 64)
	if err != nil || after < 0 {
		return errs.Invalidf("afterSeq", "invalid_after_seq", "afterSeq must be a whole number, 0 or more")
	}
	msgs, err := h.Service.After(r.Context(), auth.PrincipalOf(r.Context()), r.PathValue("id"), after, limit)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, httpapi.Page[Message]{Items: msgs})
	return nil
}

func (h *HTTP) read(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		MessageID string `json:"messageId"`
	}
	// The body is optional: without one, everything is marked read.
	body, err := io.ReadAll(io.LimitReader(r.Body, httpapi.MaxBodyBytes+1))
	if err != nil {
		return errs.Invalidf("", "unreadable_body", "the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := httpapi.DecodeBytes(body, &in); err != nil {
			return err
		}
	}
	c, err := h.Service.MarkRead(r.Context(), auth.PrincipalOf(r.Context()), r.PathValue("id"), in.MessageID)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, c)
	return nil
}

func (h *HTTP) pin(pinned bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := h.Service.SetPinned(r.Context(), auth.PrincipalOf(r.Context()), r.PathValue("id"), pinned); err != nil {
			return err
		}
		httpapi.NoContent(w)
		return nil
	}
}

func (h *HTTP) addMembers(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		MemberIDs []string `json:"memberIds"`
	}
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	c, err := h.Service.AddMembers(r.Context(), auth.PrincipalOf(r.Context()), r.PathValue("id"), in.MemberIDs)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, c)
	return nil
}

func (h *HTTP) removeMember(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.RemoveMember(r.Context(), auth.PrincipalOf(r.Context()), r.PathValue("id"), r.PathValue("memberId")); err != nil {
		return err
	}
	httpapi.NoContent(w)
	return nil
}

func (h *HTTP) leave(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	if err := h.Service.RemoveMember(r.Context(), p, r.PathValue("id"), p.MemberID); err != nil {
		return err
	}
	httpapi.NoContent(w)
	return nil
}

func (h *HTTP) reads(w http.ResponseWriter, r *http.Request) error {
	out, err := h.Service.Reads(r.Context(), auth.PrincipalOf(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, out)
	return nil
}

// NoticePage is a page of the member's notices with the unread count of
// the whole inbox.
type NoticePage struct {
	Items       []NoticeView `json:"items"`
	NextCursor  string       `json:"nextCursor,omitempty"`
	UnreadCount int          `json:"unreadCount"`
}

// NoticeView is a notice with its read state spelled out.
type NoticeView struct {
	notice.Notice
	Read bool `json:"read"`
}

func (h *HTTP) notices(w http.ResponseWriter, r *http.Request) error {
	limit, err := limitOf(r, 20)
	if err != nil {
		return err
	}
	p := auth.PrincipalOf(r.Context())
	items, next, err := h.Notices.List(r.Context(), p.TenantID, p.MemberID, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	unread, err := h.Notices.Unread(r.Context(), p.TenantID, p.MemberID)
	if err != nil {
		return err
	}
	page := NoticePage{Items: make([]NoticeView, len(items)), NextCursor: next, UnreadCount: unread}
	for i, n := range items {
		page.Items[i] = NoticeView{Notice: n, Read: n.ReadAt != nil}
	}
	httpapi.JSON(w, http.StatusOK, page)
	return nil
}

func (h *HTTP) noticeRead(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	if err := h.Notices.MarkRead(r.Context(), p.TenantID, p.MemberID, r.PathValue("id"), h.Service.Now()); err != nil {
		return err
	}
	httpapi.NoContent(w)
	return nil
}

func (h *HTTP) settings(w http.ResponseWriter, r *http.Request) error {
	s, err := h.Service.Settings(r.Context(), auth.PrincipalOf(r.Context()).TenantID)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, s)
	return nil
}

func (h *HTTP) putSettings(w http.ResponseWriter, r *http.Request) error {
	var in Settings
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	s, err := h.Service.PutSettings(r.Context(), auth.PrincipalOf(r.Context()).TenantID, in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, s)
	return nil
}

func limitOf(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		return 0, httpapi.InvalidQuery("limit", "limit must be a whole number from 1 to 100")
	}
	return n, nil
}
