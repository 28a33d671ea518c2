package memberimport

import (
	"context"

	"workbench/shared/audit"
	"workbench/shared/directory"
	"workbench/shared/errs"
)

// prefetched is the directory store of a run: it answers the read that
// AddMember makes before each member (the field definitions and which
// generated accounts are free) from what the run read ahead, the
// definitions once a run and the accounts in its page lookups, so that a
// created row costs its transaction alone.
//
// Nothing depends on the read ahead being fresh. The member's transaction
// checks the definitions' version and reserves the account; when either
// has moved on, the write fails and AddMember reads again, this time from
// the table (one more round trip for that row).
type prefetched struct {
	directory.Store
	defs    []directory.Field
	version int
	// free holds the accounts the page lookup found free and the run has
	// not taken since.
	free map[string]bool
	// armed lets the next PrepareMember be answered from the read ahead:
	// only an AddMember's first attempt is.
	armed bool
	// served says the last PrepareMember was answered from the read
	// ahead, and with which generated account ("" for none).
	served    bool
	generated string
}

// arm lets the next PrepareMember be answered from the read ahead.
func (p *prefetched) arm() { p.armed, p.served = true, false }

func (p *prefetched) PrepareMember(ctx context.Context, tenantID string, accounts []string) ([]directory.Field, int, []string, error) {
	armed := p.armed
	p.armed, p.served, p.generated = false, false, ""
	if armed && (len(accounts) == 0 || p.free[accounts[0]]) {
		p.served = true
		if len(accounts) == 0 {
			return p.defs, p.version, nil, nil
		}
		// The first candidate, the one a fresh read would give when it is
		// free; if it is taken by the write, the write reads again.
		p.generated = accounts[0]
		return p.defs, p.version, accounts[:1], nil
	}
	defs, version, free, err := p.Store.PrepareMember(ctx, tenantID, accounts)
	if err == nil {
		p.defs, p.version = defs, version
	}
	return defs, version, free, err
}

func (p *prefetched) InsertMember(ctx context.Context, m directory.Member, fieldsVersion int, extra []directory.Extra, change *audit.Change) error {
	err := p.Store.InsertMember(ctx, m, fieldsVersion, extra, change)
	if err != nil && p.served && p.generated != "" && m.Account == p.generated && errs.As(err).Code == "account_taken" {
		// Taken since the page lookup: the service tries the other
		// candidates as a fresh read finds them.
		return directory.ErrStale
	}
	return err
}

// learnt records what a page lookup found of accounts: held ones are
// not free, the others are.
func (p *prefetched) learnt(accounts []string, held map[string]string) {
	if p.free == nil {
		p.free = map[string]bool{}
	}
	for _, a := range accounts {
		p.free[a] = held[a] == ""
	}
}
