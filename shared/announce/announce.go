// Package announce is the news and announcements app: admins publish to
// everyone or to chosen departments (with their sub-departments), pin, edit
// and unpublish; members read a feed of what is addressed to them and mark
// it read; admins see who has read it.
//
// A publish writes one item whatever the audience: the feed is a sparse
// index of the tenant's published announcements filtered by the reader's
// departments, never a per-member copy.
package announce

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"workbench/shared/errs"
	"workbench/shared/text"
)

// Limits.
const (
	MaxTitle       = 100
	MaxBody        = 20000
	MaxDepartments = 100
	ExcerptLen     = 140
)

// Formats of the body.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
)

// Audience is who an announcement is addressed to: everyone, or the chosen
// departments including their sub-departments.
type Audience struct {
	Everyone      bool     `json:"everyone" dynamodbav:"everyone"`
	DepartmentIDs []string `json:"departmentIds" dynamodbav:"departmentIds"`
}

// Announcement is one piece of news.
type Announcement struct {
	ID          string    `json:"id" dynamodbav:"id"`
	TenantID    string    `json:"-" dynamodbav:"tenantId"`
	Title       string    `json:"title" dynamodbav:"title"`
	Body        string    `json:"body,omitempty" dynamodbav:"body"`
	Excerpt     string    `json:"excerpt" dynamodbav:"excerpt"`
	Format      string    `json:"format" dynamodbav:"format"`
	Audience    Audience  `json:"audience" dynamodbav:"audience"`
	Everyone    bool      `json:"-" dynamodbav:"everyone"`
	Reach       []string  `json:"-" dynamodbav:"reach,stringset,omitempty"` // the chosen departments and all below them
	Pinned      bool      `json:"pinned" dynamodbav:"pinned"`
	Published   bool      `json:"published" dynamodbav:"published"`
	AuthorID    string    `json:"authorId" dynamodbav:"authorId"`
	PublishedAt time.Time `json:"publishedAt" dynamodbav:"publishedAt"`
	UpdatedAt   time.Time `json:"updatedAt" dynamodbav:"updatedAt"`
	Version     int       `json:"version" dynamodbav:"version"`
	Read        *bool     `json:"read,omitempty" dynamodbav:"-"`
}

// AddressedTo reports whether a member of the given departments is in the
// audience.
func (a *Announcement) AddressedTo(departmentIDs []string) bool {
	if a.Everyone {
		return true
	}
	for _, d := range departmentIDs {
		for _, r := range a.Reach {
			if d == r {
				return true
			}
		}
	}
	return false
}

// Input is the body of a publish or an edit (an edit may omit fields).
type Input struct {
	Title    *string   `json:"title"`
	Body     *string   `json:"body"`
	Format   *string   `json:"format"`
	Audience *Audience `json:"audience"`
	Pinned   *bool     `json:"pinned"`
}

func normalizeTitle(s string) (string, error) {
	s = strings.TrimSpace(s)
	if err := text.Line("title", s); err != nil {
		return "", err
	}
	if n := utf8.RuneCountInString(s); n < 1 || n > MaxTitle {
		return "", errs.Invalidf("title", "invalid_title", "title must be 1 to %d characters", MaxTitle)
	}
	return s, nil
}

func normalizeBody(s string) (string, error) {
	if err := text.Lines("body", s); err != nil {
		return "", err
	}
	if utf8.RuneCountInString(s) > MaxBody {
		return "", errs.Invalidf("body", "body_too_long", "body is at most %d characters", MaxBody)
	}
	return s, nil
}

func normalizeFormat(s string) (string, error) {
	switch s {
	case "", FormatText:
		return FormatText, nil
	case FormatMarkdown:
		return s, nil
	}
	return "", errs.Invalidf("format", "invalid_format", "format must be text or markdown")
}

func normalizeAudience(a *Audience) error {
	if a == nil {
		return errs.Invalidf("audience", "required", "audience is required: {\"everyone\":true} or {\"departmentIds\":[...]}")
	}
	if a.Everyone && len(a.DepartmentIDs) > 0 {
		return errs.Invalidf("audience", "invalid_audience", "audience is either everyone or chosen departments, not both")
	}
	if !a.Everyone && len(a.DepartmentIDs) == 0 {
		return errs.Invalidf("audience.departmentIds", "required", "choose everyone or at least one department")
	}
	if len(a.DepartmentIDs) > MaxDepartments {
		return errs.Invalidf("audience.departmentIds", "too_many_departments", "at most %d departments", MaxDepartments)
	}
	seen := map[string]bool{}
	for i, d := range a.DepartmentIDs {
		if d == "" || seen[d] {
			return errs.Invalidf(fmt.Sprintf("audience.departmentIds[%d]", i), "invalid_department", "department ids must be distinct and not empty")
		}
		seen[d] = true
	}
	if a.DepartmentIDs == nil {
		a.DepartmentIDs = []string{}
	}
	return nil
}

func excerpt(body string) string {
	body = strings.Join(strings.Fields(body), " ")
	if utf8.RuneCountInString(body) <= ExcerptLen {
		return body
	}
	return string([]rune(body)[:ExcerptLen]) + "…"
}
