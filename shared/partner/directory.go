package partner

import (
	"context"

	"workbench/shared/directory"
)

// DirectoryReader is what partner sync reads of the directory;
// directory.Roster provides it.
type DirectoryReader interface {
	AllMembers(ctx context.Context, tenantID string) ([]directory.Member, error)
	Departments(ctx context.Context, tenantID string) ([]directory.Department, error)
	Events(ctx context.Context, tenantID, after string, limit int) ([]directory.Event, error)
}

// RosterDirectory is the Directory and DirectoryEvents of partner sync,
// read through the directory package.
type RosterDirectory struct {
	Roster DirectoryReader
}

var (
	_ Directory       = (*RosterDirectory)(nil)
	_ DirectoryEvents = (*RosterDirectory)(nil)
)

func (d *RosterDirectory) Snapshot(ctx context.Context, tenantID string) (Snapshot, error) {
	members, err := d.Roster.AllMembers(ctx, tenantID)
	if err != nil {
		return Snapshot{}, err
	}
	depts, err := d.Roster.Departments(ctx, tenantID)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{Members: members}
	for _, dep := range depts {
		snap.Departments = append(snap.Departments, Department{ID: dep.ID, Name: dep.Name, ParentID: dep.ParentID})
	}
	return snap, nil
}

// Events returns up to limit directory events of the tenant after the
// event id after ("" for all), oldest first.
func (d *RosterDirectory) Events(ctx context.Context, tenantID, after string, limit int) ([]directory.Event, error) {
	return d.Roster.Events(ctx, tenantID, after, limit)
}
