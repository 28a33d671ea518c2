package directory

import (
	"reflect"
	"slices"

	"workbench/shared/audit"
)

// memberChange names what changed from old to m (old zero for a new
// member), by field name only, and the action it amounts to.
func memberChange(old, m Member) audit.Change {
	var fields []string
	diff := func(name string, changed bool) {
		if changed {
			fields = append(fields, name)
		}
	}
	diff("name", old.Name != m.Name)
	diff("mobile", old.Mobile != m.Mobile)
	diff("account", old.Account != m.Account)
	diff("email", old.Email != m.Email)
	diff("role", old.Role != m.Role)
	diff("enabled", old.Enabled != m.Enabled)
	diff("departmentIds", !slices.Equal(old.DepartmentIDs, m.DepartmentIDs))
	diff("position", old.Position != m.Position)
	diff("employeeNo", old.EmployeeNo != m.EmployeeNo)
	for code, v := range m.Fields {
		if w, ok := old.Fields[code]; !ok || !reflect.DeepEqual(v, w) {
			fields = append(fields, "fields."+code)
		}
	}
	for code := range old.Fields {
		if _, ok := m.Fields[code]; !ok {
			fields = append(fields, "fields."+code)
		}
	}
	c := audit.Change{Action: audit.MemberUpdate, Target: "member/" + m.ID, Fields: fields}
	switch {
	case old.ID == "":
		// A generated account is chosen as the member is written.
		if !slices.Contains(fields, "account") {
			c.Fields = append(fields, "account")
		}
		c.Action = audit.MemberCreate
	case slices.Contains(fields, "role"):
		c.Action = audit.MemberRoleChange
	case len(fields) == 1 && fields[0] == "enabled" && m.Enabled:
		c.Action = audit.MemberEnable
	case len(fields) == 1 && fields[0] == "enabled":
		c.Action = audit.MemberDisable
	}
	return c
}

// fieldsChange names the custom field definitions added, changed or
// removed, by code.
func fieldsChange(prev, next []Field) audit.Change {
	var codes []string
	for _, f := range next {
		i := slices.IndexFunc(prev, func(p Field) bool { return p.Code == f.Code })
		if i < 0 || !reflect.DeepEqual(prev[i], f) {
			codes = append(codes, f.Code)
		}
	}
	for _, p := range prev {
		if !slices.ContainsFunc(next, func(f Field) bool { return f.Code == p.Code }) {
			codes = append(codes, p.Code)
		}
	}
	return audit.Change{Action: audit.FieldsUpdate, Target: "directory-fields", Fields: codes}
}
