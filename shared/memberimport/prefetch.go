package memberimport

import (
	"context"
	"slices"

	"workbench/shared/audit"
	"workbench/shared/directory"
)

// prefetched is the directory store of a run: it answers the read that
// AddMember makes before each member (the field definitions and which
// generated accounts are free) from what the run read ahead, the
// definitions once a run and the first generated account in its page
// lookups, so that a created row costs its transaction alone.
//
// Nothing depends on the read ahead being fresh. The member's transaction
// checks the definitions' version and reserves the account. When the
// definitions moved on, the write fails and AddMember reads them again,
// from the table. When the first generated account was taken since, the
// write fails and the other candidates are read, as AddMember's own read
// would have: AddMember tries those it finds free, in order.
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
	// ahead, with candidates: the generated accounts, the first known
	// free, the others unread until the first is lost; held are those of
	// them read since, with their holders.
	served     bool
	candidates []string
	held       map[string]string
}

// arm lets the next PrepareMember be answered from the read ahead.
func (p *prefetched) arm() { p.armed, p.served = true, false }

func (p *prefetched) PrepareMember(ctx context.Context, tenantID string, accounts []string) ([]directory.Field, int, []string, error) {
	armed := p.armed
	p.armed, p.served, p.candidates, p.held = false, false, nil, nil
	if armed && (len(accounts) == 0 || p.free[accounts[0]]) {
		p.served, p.candidates = true, accounts
		return p.defs, p.version, accounts, nil
	}
	defs, version, free, err := p.Store.PrepareMember(ctx, tenantID, accounts)
	if err == nil {
		p.defs, p.version = defs, version
	}
	return defs, version, free, err
}

func (p *prefetched) InsertMember(ctx context.Context, m directory.Member, fieldsVersion int, extra []directory.Extra, change *audit.Change) error {
	if p.served && len(p.candidates) > 1 && m.Account != p.candidates[0] && slices.Contains(p.candidates, m.Account) {
		// The first candidate was lost: AddMember is down its list.
		if p.held == nil {
			held, err := p.Holders(ctx, m.TenantID, directory.UniqueAccount, p.candidates[1:])
			if err != nil {
				return err
			}
			p.held = held
		}
		if p.held[m.Account] != "" {
			return directory.ErrAccountTaken
		}
	}
	return p.Store.InsertMember(ctx, m, fieldsVersion, extra, change)
}

// learnt records what a page lookup found of accounts: held ones are
// not free, the others are.
func (p *prefetched) learnt(accounts []string, held map[string]string) {
	p.free = map[string]bool{}
	for _, a := range accounts {
		p.free[a] = held[a] == ""
	}
}
