package announce_test

import (
	"strings"
	"testing"
	"time"

	"workbench/infra/stacktest"
)

type announcementOut struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Body      string `json:"body"`
	Excerpt   string `json:"excerpt"`
	Pinned    bool   `json:"pinned"`
	Published bool   `json:"published"`
	Version   int    `json:"version"`
	Read      *bool  `json:"read"`
}

type feedPage struct {
	Items      []announcementOut
	NextCursor string
}

func (s *stackT) feed(t *testing.T, token, query string) feedPage {
	t.Helper()
	r := s.Call(t, "GET", "/v1/announcements"+query, token, nil)
	stacktest.Want(t, r, 200)
	var p feedPage
	r.Decode(t, &p)
	return p
}

func (s *stackT) publish(t *testing.T, token string, body map[string]any) announcementOut {
	t.Helper()
	r := s.Call(t, "POST", "/v1/announcements", token, body)
	stacktest.Want(t, r, 201)
	var a announcementOut
	r.Decode(t, &a)
	return a
}

func titles(p feedPage) string {
	var out []string
	for _, a := range p.Items {
		out = append(out, a.Title)
	}
	return strings.Join(out, ",")
}

func TestAnnouncementsAudienceFeedAndReads(t *testing.T) {
	s := newStack(t, time.Now().UTC())
	tn := s.NewTenant(t)
	sales := s.Department(t, tn, "Sales", "")
	east := s.Department(t, tn, "East", sales)
	ops := s.Department(t, tn, "Ops", "")
	li := s.Member(t, tn, "member", east) // in a sub-department of Sales
	han := s.Member(t, tn, "member", ops)
	zhang := s.Member(t, tn, "member")
	admin := tn.Admin.Token

	s.Clock.Set(time.Now().UTC())
	all := s.publish(t, admin, map[string]any{"title": "Holiday schedule", "body": "Closed on Jan 1.", "audience": map[string]any{"everyone": true}})
	s.Clock.Set(time.Now().UTC().Add(time.Second))
	toSales := s.publish(t, admin, map[string]any{"title": "Sales kick-off", "body": strings.Repeat("**Monday** 9:00. ", 50), "format": "markdown",
		"audience": map[string]any{"departmentIds": []string{sales}}})
	s.Clock.Set(time.Now().UTC().Add(2 * time.Second))
	s.publish(t, admin, map[string]any{"title": "Ops drill", "audience": map[string]any{"departmentIds": []string{ops}}})

	if got := titles(s.feed(t, li.Token, "")); got != "Sales kick-off,Holiday schedule" {
		t.Fatalf("李雷's feed = %s", got)
	}
	if got := titles(s.feed(t, han.Token, "")); got != "Ops drill,Holiday schedule" {
		t.Fatalf("韩梅梅's feed = %s", got)
	}
	if got := titles(s.feed(t, zhang.Token, "")); got != "Holiday schedule" {
		t.Fatalf("张伟's feed = %s", got)
	}
	p := s.feed(t, li.Token, "")
	if p.Items[0].Body != "" || p.Items[0].Excerpt == "" || *p.Items[0].Read {
		t.Fatalf("feed entries carry an excerpt, no body, and read=false: %+v", p.Items[0])
	}
	// Not addressed: 404 to read or mark.
	stacktest.Want(t, s.Call(t, "GET", "/v1/announcements/"+toSales.ID, han.Token, nil), 404, "announcement_not_found")
	stacktest.Want(t, s.Call(t, "POST", "/v1/announcements/"+toSales.ID+"/read", han.Token, nil), 404, "announcement_not_found")

	r := s.Call(t, "GET", "/v1/announcements/"+toSales.ID, li.Token, nil)
	stacktest.Want(t, r, 200)
	var got announcementOut
	r.Decode(t, &got)
	if !strings.HasPrefix(got.Body, "**Monday**") {
		t.Fatalf("detail body %q", got.Body)
	}
	stacktest.Want(t, s.Call(t, "POST", "/v1/announcements/"+toSales.ID+"/read", li.Token, nil), 204)
	stacktest.Want(t, s.Call(t, "POST", "/v1/announcements/"+toSales.ID+"/read", li.Token, nil), 204)
	if p := s.feed(t, li.Token, ""); !*p.Items[0].Read || *p.Items[1].Read {
		t.Fatalf("read flags %+v", p.Items)
	}
	// Admin read report: 李雷 read; nobody else in Sales.
	r = s.Call(t, "GET", "/v1/announcements/"+toSales.ID+"/reads", admin, nil)
	stacktest.Want(t, r, 200)
	var rep struct {
		Read   []struct{ MemberID, Name, ReadAt string }
		Unread []struct{ MemberID string }
	}
	r.Decode(t, &rep)
	if len(rep.Read) != 1 || rep.Read[0].MemberID != li.ID || rep.Read[0].Name == "" || rep.Read[0].ReadAt == "" || len(rep.Unread) != 0 {
		t.Fatalf("sales report %+v", rep)
	}
	r = s.Call(t, "GET", "/v1/announcements/"+all.ID+"/reads", admin, nil)
	r.Decode(t, &rep)
	if len(rep.Read) != 0 || len(rep.Unread) != 4 { // admin, 李雷, 韩梅梅, 张伟
		t.Fatalf("everyone report %+v", rep)
	}
	stacktest.Want(t, s.Call(t, "GET", "/v1/announcements/"+all.ID+"/reads", li.Token, nil), 403, "admin_only")

	// Pin the oldest: it comes first. Unpublish: gone from feeds, 404 to members.
	stacktest.Want(t, s.Call(t, "PUT", "/v1/announcements/"+all.ID+"/pin", li.Token, nil), 403, "admin_only")
	stacktest.Want(t, s.Call(t, "PUT", "/v1/announcements/"+all.ID+"/pin", admin, nil), 200)
	if got := titles(s.feed(t, li.Token, "")); got != "Holiday schedule,Sales kick-off" {
		t.Fatalf("pinned first: %s", got)
	}
	stacktest.Want(t, s.Call(t, "DELETE", "/v1/announcements/"+all.ID+"/pin", admin, nil), 200)
	if got := titles(s.feed(t, li.Token, "")); got != "Sales kick-off,Holiday schedule" {
		t.Fatalf("unpinned: %s", got)
	}
	stacktest.Want(t, s.Call(t, "POST", "/v1/announcements/"+toSales.ID+"/unpublish", admin, nil), 200)
	if got := titles(s.feed(t, li.Token, "")); got != "Holiday schedule" {
		t.Fatalf("after unpublish: %s", got)
	}
	stacktest.Want(t, s.Call(t, "GET", "/v1/announcements/"+toSales.ID, li.Token, nil), 404)
	stacktest.Want(t, s.Call(t, "GET", "/v1/announcements/"+toSales.ID, admin, nil), 200)
	// Admins list everything, unpublished included; members may not.
	r = s.Call(t, "GET", "/v1/announcements?scope=all", admin, nil)
	stacktest.Want(t, r, 200)
	var everything feedPage
	r.Decode(t, &everything)
	if titles(everything) != "Ops drill,Sales kick-off,Holiday schedule" || everything.Items[1].Published {
		t.Fatalf("admin list %+v", everything.Items)
	}
	stacktest.Want(t, s.Call(t, "GET", "/v1/announcements?scope=all", li.Token, nil), 403, "admin_only")
	stacktest.Want(t, s.Call(t, "GET", "/v1/announcements?scope=mine", li.Token, nil), 400, "invalid_scope", "scope")

	// Edit: the audience moves to Ops; title changes.
	r = s.Call(t, "PATCH", "/v1/announcements/"+all.ID, admin, map[string]any{"title": "Holiday schedule (updated)", "audience": map[string]any{"departmentIds": []string{ops}}})
	stacktest.Want(t, r, 200)
	if got := titles(s.feed(t, li.Token, "")); got != "" {
		t.Fatalf("李雷 after the audience moved: %q", got)
	}
	if got := titles(s.feed(t, han.Token, "")); got != "Ops drill,Holiday schedule (updated)" {
		t.Fatalf("韩梅梅 after the edit: %s", got)
	}
	stacktest.Want(t, s.Call(t, "PATCH", "/v1/announcements/"+all.ID, li.Token, map[string]any{"title": "x"}), 403, "admin_only")
}

func TestAnnouncementsBadInputAndIsolation(t *testing.T) {
	s := newStack(t, time.Now().UTC())
	tn := s.NewTenant(t)
	admin := tn.Admin.Token
	m := s.Member(t, tn, "member")
	dep := s.Department(t, tn, "Sales", "")
	cases := []struct {
		name        string
		body        map[string]any
		code, field string
	}{
		{"no title", map[string]any{"audience": map[string]any{"everyone": true}}, "invalid_title", "title"},
		{"empty title", map[string]any{"title": "  ", "audience": map[string]any{"everyone": true}}, "invalid_title", "title"},
		{"long title", map[string]any{"title": strings.Repeat("题", 101), "audience": map[string]any{"everyone": true}}, "invalid_title", "title"},
		{"long body", map[string]any{"title": "x", "body": strings.Repeat("a", 20001), "audience": map[string]any{"everyone": true}}, "body_too_long", "body"},
		{"bad format", map[string]any{"title": "x", "format": "html", "audience": map[string]any{"everyone": true}}, "invalid_format", "format"},
		{"no audience", map[string]any{"title": "x"}, "required", "audience"},
		{"empty audience", map[string]any{"title": "x", "audience": map[string]any{}}, "required", "audience.departmentIds"},
		{"both", map[string]any{"title": "x", "audience": map[string]any{"everyone": true, "departmentIds": []string{dep}}}, "invalid_audience", "audience"},
		{"unknown department", map[string]any{"title": "x", "audience": map[string]any{"departmentIds": []string{dep, "nope"}}}, "unknown_department", "audience.departmentIds[1]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stacktest.Want(t, s.Call(t, "POST", "/v1/announcements", admin, c.body), 400, c.code, c.field)
		})
	}
	// 20,000 characters (not bytes) is fine.
	s.publish(t, admin, map[string]any{"title": "长文", "body": strings.Repeat("字", 20000), "audience": map[string]any{"everyone": true}})
	stacktest.Want(t, s.Call(t, "POST", "/v1/announcements", m.Token, map[string]any{"title": "x", "audience": map[string]any{"everyone": true}}), 403, "admin_only")
	if p := s.feed(t, m.Token, ""); len(p.Items) != 1 {
		t.Fatalf("feed %+v", p)
	}
	stacktest.Want(t, s.Call(t, "GET", "/v1/announcements?cursor=bad", m.Token, nil), 400, "invalid_cursor", "cursor")

	// Another tenant sees nothing and cannot touch ours.
	a := s.publish(t, admin, map[string]any{"title": "Ours", "audience": map[string]any{"everyone": true}})
	other := s.NewTenant(t)
	if p := s.feed(t, other.Admin.Token, ""); len(p.Items) != 0 {
		t.Fatalf("other tenant's feed %+v", p)
	}
	stacktest.Want(t, s.Call(t, "GET", "/v1/announcements/"+a.ID, other.Admin.Token, nil), 404)
	stacktest.Want(t, s.Call(t, "PATCH", "/v1/announcements/"+a.ID, other.Admin.Token, map[string]any{"title": "theirs"}), 404)
	stacktest.Want(t, s.Call(t, "POST", "/v1/announcements/"+a.ID+"/unpublish", other.Admin.Token, nil), 404)
	stacktest.Want(t, s.Call(t, "GET", "/v1/announcements/"+a.ID+"/reads", other.Admin.Token, nil), 404)
	stacktest.Want(t, s.Call(t, "POST", "/v1/announcements", other.Admin.Token, map[string]any{"title": "x", "audience": map[string]any{"departmentIds": []string{dep}}}), 400, "unknown_department")
}

func TestAnnouncementFeedPages(t *testing.T) {
	s := newStack(t, time.Now().UTC())
	tn := s.NewTenant(t)
	base := time.Now().UTC()
	for i := range 5 {
		s.Clock.Set(base.Add(time.Duration(i) * time.Second))
		s.publish(t, tn.Admin.Token, map[string]any{"title": string(rune('A' + i)), "audience": map[string]any{"everyone": true}})
	}
	var got []string
	q := "?limit=2"
	for range 5 {
		p := s.feed(t, tn.Admin.Token, q)
		for _, a := range p.Items {
			got = append(got, a.Title)
		}
		if p.NextCursor == "" {
			break
		}
		q = "?limit=2&cursor=" + p.NextCursor
	}
	if strings.Join(got, "") != "EDCBA" {
		t.Fatalf("pages %v", got)
	}
}
