package memberimport

import (
	"context"
	"strings"

	"workbench/shared/directory"
	"workbench/shared/errs"
)

// departments resolves department paths ("总装车间/一班") to ids, creating
// the missing ones when the job asks for it.
type departments struct {
	byPath map[string][]string // path → ids (two siblings may share a name)
}

// loadDepartments reads the tenant's departments once per run.
func loadDepartments(ctx context.Context, dir *directory.Service, tenantID string) (*departments, error) {
	all, err := dir.Departments(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	byID := map[string]directory.Department{}
	for _, d := range all {
		byID[d.ID] = d
	}
	ds := &departments{byPath: map[string][]string{}}
	for _, d := range all {
		var parts []string
		seen := map[string]bool{}
		for a, ok := d, true; ok && !seen[a.ID]; a, ok = byID[a.ParentID] {
			seen[a.ID] = true
			parts = append([]string{a.Name}, parts...)
		}
		p := strings.Join(parts, "/")
		ds.byPath[p] = append(ds.byPath[p], d.ID)
	}
	return ds, nil
}

// resolve turns a cell of paths separated by ";" into department ids.
func (ds *departments) resolve(ctx context.Context, dir *directory.Service, j Job, cell string) ([]string, error) {
	var out []string
	for _, raw := range splitList(cell) {
		var parts []string
		for _, x := range strings.Split(raw, "/") {
			if x = strings.TrimSpace(x); x != "" {
				parts = append(parts, x)
			}
		}
		if len(parts) == 0 {
			continue
		}
		id, err := ds.find(ctx, dir, j, parts)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

func (ds *departments) find(ctx context.Context, dir *directory.Service, j Job, parts []string) (string, error) {
	path := strings.Join(parts, "/")
	switch ids := ds.byPath[path]; {
	case len(ids) == 1:
		return ids[0], nil
	case len(ids) > 1:
		return "", errs.Invalidf("departments", "ambiguous_department", "more than one department is at %q", path)
	case !j.CreateDepartments:
		return "", errs.Invalidf("departments", "department_not_found", "no department is at %q (import with createDepartments=true to create it)", path)
	}
	parent := ""
	if len(parts) > 1 {
		var err error
		if parent, err = ds.find(ctx, dir, j, parts[:len(parts)-1]); err != nil {
			return "", err
		}
	}
	d, err := dir.CreateDepartment(ctx, j.TenantID, parts[len(parts)-1], parent)
	if err != nil {
		if e := errs.As(err); e.Field == "name" {
			e2 := *e
			e2.Field = "departments"
			return "", &e2
		}
		return "", err
	}
	ds.byPath[path] = []string{d.ID}
	return d.ID, nil
}
