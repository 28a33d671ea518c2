package announce

import (
	"context"
	"fmt"
	"time"

	"workbench/shared/audit"
	"workbench/shared/errs"
	"workbench/shared/ids"
)

// Directory is what the app needs of the directory.
type Directory interface {
	// Subtree returns the given departments and every department below
	// them; unknown returns the index of the first id that is not a
	// department of the tenant (or -1).
	Subtree(ctx context.Context, tenantID string, departmentIDs []string) (all []string, unknown int, err error)
	// Members lists the tenant's enabled members.
	Members(ctx context.Context, tenantID string) ([]Member, error)
}

// Member is a member as the read report shows it.
type Member struct {
	ID            string   `json:"memberId"`
	Name          string   `json:"name"`
	DepartmentIDs []string `json:"-"`
}

// Service is the announcements app.
type Service struct {
	Store     Store
	Directory Directory
	Now       func() time.Time
}

// Publish creates and publishes an announcement (admins only).
func (s *Service) Publish(ctx context.Context, tenantID, authorID string, in Input) (*Announcement, error) {
	if in.Title == nil {
		return nil, errs.Invalidf("title", "invalid_title", "title is required")
	}
	a := &Announcement{TenantID: tenantID, AuthorID: authorID, Published: true}
	if in.Body == nil {
		empty := ""
		in.Body = &empty
	}
	if err := s.apply(ctx, a, in); err != nil {
		return nil, err
	}
	now := s.Now().UTC()
	a.ID, a.PublishedAt, a.UpdatedAt, a.Version = ids.New(now), now, now, 1
	if err := s.Store.Put(ctx, a, 0, audit.Change{Action: audit.AnnouncementPublish, Fields: in.fields()}); err != nil {
		return nil, err
	}
	return a, nil
}

func (s *Service) apply(ctx context.Context, a *Announcement, in Input) error {
	var err error
	if in.Title != nil {
		if a.Title, err = normalizeTitle(*in.Title); err != nil {
			return err
		}
	}
	if in.Body != nil {
		if a.Body, err = normalizeBody(*in.Body); err != nil {
			return err
		}
		a.Excerpt = excerpt(a.Body)
	}
	if in.Format != nil || a.Format == "" {
		f := ""
		if in.Format != nil {
			f = *in.Format
		}
		if a.Format, err = normalizeFormat(f); err != nil {
			return err
		}
	}
	if in.Audience != nil || a.ID == "" {
		if err := normalizeAudience(in.Audience); err != nil {
			return err
		}
		a.Audience, a.Everyone, a.Reach = *in.Audience, in.Audience.Everyone, nil
		if !a.Everyone {
			all, unknown, err := s.Directory.Subtree(ctx, a.TenantID, a.Audience.DepartmentIDs)
			if err != nil {
				return err
			}
			if unknown >= 0 {
				return errs.Invalidf(fmt.Sprintf("audience.departmentIds[%d]", unknown), "unknown_department", "no such department in this tenant")
			}
			a.Reach = all
		}
	}
	if in.Pinned != nil {
		a.Pinned = *in.Pinned
	}
	return nil
}

// Edit changes the given fields of an announcement (admins only).
func (s *Service) Edit(ctx context.Context, tenantID, id string, in Input) (*Announcement, error) {
	change := audit.Change{Action: audit.AnnouncementUpdate, Fields: in.fields()}
	return s.change(ctx, tenantID, id, change, func(a *Announcement) error { return s.apply(ctx, a, in) })
}

// Pin pins or unpins (admins only).
func (s *Service) Pin(ctx context.Context, tenantID, id string, pinned bool) (*Announcement, error) {
	change := audit.Change{Action: audit.AnnouncementUnpin, Fields: []string{"pinned"}}
	if pinned {
		change.Action = audit.AnnouncementPin
	}
	return s.change(ctx, tenantID, id, change, func(a *Announcement) error { a.Pinned = pinned; return nil })
}

// Unpublish takes an announcement out of every feed (admins only); it
// stays readable by admins.
func (s *Service) Unpublish(ctx context.Context, tenantID, id string) (*Announcement, error) {
	change := audit.Change{Action: audit.AnnouncementUnpublish, Fields: []string{"published"}}
	return s.change(ctx, tenantID, id, change, func(a *Announcement) error { a.Published = false; return nil })
}

func (s *Service) change(ctx context.Context, tenantID, id string, c audit.Change, f func(*Announcement) error) (*Announcement, error) {
	a, err := s.Store.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if err := f(a); err != nil {
		return nil, err
	}
	prev := a.Version
	a.Version++
	a.UpdatedAt = s.Now().UTC()
	if err := s.Store.Put(ctx, a, prev, c); err != nil {
		return nil, err
	}
	return a, nil
}

// Feed returns the published announcements addressed to the member, pinned
// first, then newest, each with its read flag: three round trips (the
// member's departments, the feed, the read marks).
func (s *Service) Feed(ctx context.Context, tenantID, memberID string, deps []string, cursor string, limit int) ([]*Announcement, string, error) {
	list, next, err := s.Store.Feed(ctx, tenantID, memberID, deps, cursor, limit)
	if err != nil {
		return nil, "", err
	}
	idList := make([]string, len(list))
	for i, a := range list {
		idList[i] = a.ID
	}
	read, err := s.Store.ReadBy(ctx, tenantID, memberID, idList)
	if err != nil {
		return nil, "", err
	}
	for _, a := range list {
		r := read[a.ID]
		a.Read = &r
	}
	return list, next, nil
}

// All lists every announcement of the tenant, published or not, newest
// first (admins only).
func (s *Service) All(ctx context.Context, tenantID, cursor string, limit int) ([]*Announcement, string, error) {
	return s.Store.All(ctx, tenantID, cursor, limit)
}

// Get returns an announcement to an admin, or to a member it is addressed
// to while published; to others it does not exist.
func (s *Service) Get(ctx context.Context, tenantID, memberID string, deps []string, admin bool, id string) (*Announcement, error) {
	a, err := s.Store.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if admin {
		return a, nil
	}
	if !a.Published {
		return nil, errs.NotFoundf("announcement_not_found", "no such announcement")
	}
	if !a.AddressedTo(deps) {
		return nil, errs.NotFoundf("announcement_not_found", "no such announcement")
	}
	read, err := s.Store.ReadBy(ctx, tenantID, memberID, []string{id})
	if err != nil {
		return nil, err
	}
	r := read[id]
	a.Read = &r
	return a, nil
}

// MarkRead records that the member has read an announcement addressed to
// them.
func (s *Service) MarkRead(ctx context.Context, tenantID, memberID string, deps []string, id string) error {
	if _, err := s.Get(ctx, tenantID, memberID, deps, false, id); err != nil {
		return err
	}
	return s.Store.MarkRead(ctx, tenantID, id, memberID, s.Now())
}

// ReadReport is who in the audience has read an announcement and who has
// not.
type ReadReport struct {
	ID     string       `json:"id"`
	Read   []ReadMember `json:"read"`
	Unread []Member     `json:"unread"`
}

// ReadMember is a member who has read it, and when.
type ReadMember struct {
	Member
	ReadAt time.Time `json:"readAt"`
}

// Reads reports read and unread members of the audience (admins only).
func (s *Service) Reads(ctx context.Context, tenantID, id string) (*ReadReport, error) {
	a, err := s.Store.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	reads, err := s.Store.Reads(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	members, err := s.Directory.Members(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	rep := &ReadReport{ID: id, Read: []ReadMember{}, Unread: []Member{}}
	for _, m := range members {
		at, ok := reads[m.ID]
		switch {
		case ok:
			rep.Read = append(rep.Read, ReadMember{Member: m, ReadAt: at})
		case a.AddressedTo(m.DepartmentIDs):
			rep.Unread = append(rep.Unread, m)
		}
	}
	return rep, nil
}
