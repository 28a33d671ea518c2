package directory

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"workbench/shared/audit"
	"workbench/shared/errs"
	"workbench/shared/ids"
)

// Department is a node of a tenant's department tree.
type Department struct {
	ID        string    `json:"id" dynamodbav:"id"`
	TenantID  string    `json:"-" dynamodbav:"tenantId"`
	Name      string    `json:"name" dynamodbav:"name"`
	ParentID  string    `json:"parentId,omitempty" dynamodbav:"parentId,omitempty"`
	Members   int       `json:"memberCount" dynamodbav:"members"`
	Children  int       `json:"-" dynamodbav:"children"`
	CreatedAt time.Time `json:"createdAt" dynamodbav:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt" dynamodbav:"updatedAt"`
	Version   int       `json:"-" dynamodbav:"version"`
	// Sub are the child departments, in the tree GET /v1/departments
	// returns.
	Sub []*Department `json:"children" dynamodbav:"-"`
}

type departmentRecord struct {
	PK   string `dynamodbav:"pk"`
	SK   string `dynamodbav:"sk"`
	Type string `dynamodbav:"type"`
	Department
}

// MaxDepartmentNameRunes limits a department name.
const MaxDepartmentNameRunes = 30

// NormalizeDepartmentName checks a department name: 1–30 printable
// characters, trimmed.
func NormalizeDepartmentName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	if n == 0 || n > MaxDepartmentNameRunes || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "", errs.Invalidf(field, "invalid_department_name", "%s must be 1–%d printable characters", field, MaxDepartmentNameRunes)
	}
	return name, nil
}

var (
	errDepartmentNotFound = errs.NotFoundf("department_not_found", "no department with this id in the tenant")
	errNoParent           = errs.Invalidf("parentId", "department_not_found", "parentId names a department that does not exist")
	errNotEmpty           = errs.E(errs.Conflict, "department_not_empty", "the department still has members or sub-departments")
)

// CreateDepartment adds a department under parentID ("" for the top).
func (s *Service) CreateDepartment(ctx context.Context, tenantID, name, parentID string) (Department, error) {
	name, err := NormalizeDepartmentName("name", name)
	if err != nil {
		return Department{}, err
	}
	parentID = strings.TrimSpace(parentID)
	now := s.now()
	d := Department{ID: ids.New(now), TenantID: tenantID, Name: name, ParentID: parentID, CreatedAt: now, UpdatedAt: now, Version: 1, Sub: []*Department{}}
	fields := []string{"name"}
	if parentID != "" {
		fields = append(fields, "parentId")
	}
	ev := Event{ID: ids.New(now), TenantID: tenantID, Type: EventDepartmentCreated, DepartmentID: d.ID, ParentIDs: nonEmpty(parentID), At: now}
	err = retry(ctx, func() error {
		return s.Store.CreateDepartment(ctx, d, ev, audit.Change{Action: audit.DepartmentCreate, Target: "department/" + d.ID, Fields: fields})
	})
	if err != nil {
		return Department{}, err
	}
	return d, nil
}

func nonEmpty(v ...string) []string {
	var out []string
	for _, x := range v {
		if x != "" && !contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// Departments returns every department of the tenant, flat.
func (s *Service) Departments(ctx context.Context, tenantID string) ([]Department, error) {
	return s.Store.Departments(ctx, tenantID)
}

// DepartmentTree returns the tenant's departments as a tree: the top
// departments, each with its children, by name.
func (s *Service) DepartmentTree(ctx context.Context, tenantID string) ([]*Department, error) {
	flat, err := s.Departments(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	byID := map[string]*Department{}
	for i := range flat {
		byID[flat[i].ID] = &flat[i]
	}
	roots := []*Department{}
	for i := range flat {
		d := &flat[i]
		if p, ok := byID[d.ParentID]; ok {
			p.Sub = append(p.Sub, d)
		} else {
			roots = append(roots, d)
		}
	}
	var order func([]*Department)
	order = func(ds []*Department) {
		sort.Slice(ds, func(i, j int) bool {
			if ds[i].Name != ds[j].Name {
				return ds[i].Name < ds[j].Name
			}
			return ds[i].ID < ds[j].ID
		})
		for _, d := range ds {
			order(d.Sub)
		}
	}
	order(roots)
	return roots, nil
}

// DepartmentPatch renames or moves a department; ParentID "" moves it to
// the top.
type DepartmentPatch struct {
	Name     *string `json:"name"`
	ParentID *string `json:"parentId"`
}

// UpdateDepartment renames or moves a department. A move under itself or
// one of its descendants is a 400; the move is conditional on the new
// parent's ancestry being what was checked, so two concurrent moves cannot
// make a cycle together.
func (s *Service) UpdateDepartment(ctx context.Context, tenantID, id string, p DepartmentPatch) (Department, error) {
	var out Department
	err := retry(ctx, func() error {
		all, err := s.Departments(ctx, tenantID)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(all, func(d Department) bool { return d.ID == id })
		if i < 0 {
			return errDepartmentNotFound
		}
		old := all[i]
		d := old
		if p.Name != nil {
			if d.Name, err = NormalizeDepartmentName("name", *p.Name); err != nil {
				return err
			}
		}
		if p.ParentID != nil {
			d.ParentID = strings.TrimSpace(*p.ParentID)
		}
		var line []Department
		if d.ParentID != old.ParentID && d.ParentID != "" {
			up, err := ancestry(parents(all), id, d.ParentID)
			if err != nil {
				return err
			}
			for _, a := range up {
				line = append(line, all[slices.IndexFunc(all, func(d Department) bool { return d.ID == a })])
			}
		}
		now := s.now()
		d.UpdatedAt, d.Version = now, old.Version+1
		ev := Event{ID: ids.New(now), TenantID: tenantID, Type: EventDepartmentUpdated, DepartmentID: id, ParentIDs: nonEmpty(old.ParentID, d.ParentID), At: now}
		change := audit.Change{Action: audit.DepartmentUpdate, Target: "department/" + id, Fields: departmentFields(old, d)}
		if err := s.Store.UpdateDepartment(ctx, old, d, line, ev, change); err != nil {
			return err
		}
		d.Sub = []*Department{}
		out = d
		return nil
	})
	return out, err
}

// departmentFields names what changed from old to d.
func departmentFields(old, d Department) []string {
	var fields []string
	if d.Name != old.Name {
		fields = append(fields, "name")
	}
	if d.ParentID != old.ParentID {
		fields = append(fields, "parentId")
	}
	return fields
}

var errCycle = errs.Invalidf("parentId", "department_cycle", "a department cannot move under itself or one of its sub-departments")

// parents maps each department's id to its parent's ("" at the top).
func parents(all []Department) map[string]string {
	p := make(map[string]string, len(all))
	for _, d := range all {
		p[d.ID] = d.ParentID
	}
	return p
}

// ancestry returns the departments from parentID up to the top, for moving
// department id under parentID: errNoParent when parentID is no
// department, errCycle when id is among them (a move under itself or one
// of its sub-departments). A tree that already holds a cycle (it cannot,
// but a walk must end) is reported as one.
func ancestry(parents map[string]string, id, parentID string) ([]string, error) {
	if _, ok := parents[parentID]; !ok {
		return nil, errNoParent
	}
	var up []string
	for a := parentID; a != ""; a = parents[a] {
		if a == id || len(up) > len(parents) {
			return nil, errCycle
		}
		up = append(up, a)
	}
	return up, nil
}

// DeleteDepartment removes an empty department: one with members or
// sub-departments is a 409 (the counts are checked in the write).
func (s *Service) DeleteDepartment(ctx context.Context, tenantID, id string) error {
	return retry(ctx, func() error {
		d, ok, err := s.Store.Department(ctx, tenantID, id)
		if err != nil {
			return err
		}
		if !ok {
			return errDepartmentNotFound
		}
		if d.Members > 0 || d.Children > 0 {
			return errNotEmpty
		}
		now := s.now()
		ev := Event{ID: ids.New(now), TenantID: tenantID, Type: EventDepartmentDeleted, DepartmentID: id, ParentIDs: nonEmpty(d.ParentID), At: now}
		return s.Store.DeleteDepartment(ctx, d, ev, audit.Change{Action: audit.DepartmentDelete, Target: "department/" + id})
	})
}
