package memberimport

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"workbench/shared/directory"
	"workbench/shared/errs"
	"workbench/shared/ids"
)

// Runner runs import jobs: it claims a job, imports its rows from the
// cursor on, and hands the job to a new invocation before its own runs out
// of time.
type Runner struct {
	Store     *Store
	Directory *directory.Service
	// Trigger starts the next invocation when a run hands over.
	Trigger Trigger
	Now     func() time.Time
	// WelcomeInterval is the least time between two welcome SMS of a run
	// (0: DefaultWelcomeInterval).
	WelcomeInterval time.Duration
	// MaxRows, if positive, hands over after that many rows; otherwise a
	// run hands over when its context's deadline (Lambda's) is near.
	MaxRows int
}

// Defaults of a run.
const (
	DefaultWelcomeInterval = 200 * time.Millisecond // 5 SMS a second
	// lease is how long a run holds a job without progress; every row
	// written renews it.
	lease = 2 * time.Minute
	// reserve is the time left at which a run hands over: the longest a
	// row can take, with room for the handover.
	reserve = time.Minute
	// page is how many rows are matched against the directory at once.
	page = 50
	// saveEvery bounds the rows a resumed run redoes when none of them
	// wrote a member (failures and skips).
	saveEvery = 100
)

var errHandOver = errors.New("memberimport: hand over to the next invocation")

// Run runs the job until it is done, the run hands over or fails. A job
// that another run holds, or that is over, is left alone.
func (r *Runner) Run(ctx context.Context, tenantID, jobID string) error {
	now := r.Now()
	owner := ids.New(now)
	j, err := r.Store.Claim(ctx, tenantID, jobID, owner, now, now.Add(lease))
	if err == errLeaseLost {
		slog.InfoContext(ctx, "import not claimed", "tenant", tenantID, "import", jobID)
		return nil
	}
	if err != nil {
		return err
	}
	slog.InfoContext(ctx, "import run", "tenant", tenantID, "import", jobID, "from", j.Processed, "total", j.Total, "run", j.Runs)
	ru := &run{Runner: r, job: j, owner: owner, saved: j.Processed}
	err = ru.all(ctx)
	fin := context.WithoutCancel(ctx)
	switch {
	case err == nil:
		err = r.Store.Finish(fin, tenantID, jobID, owner, StateDone, "", r.Now())
		slog.InfoContext(ctx, "import done", "tenant", tenantID, "import", jobID, "rows", ru.rows)
		return err
	case err == errHandOver:
		if err := r.Store.Finish(fin, tenantID, jobID, owner, StateRunning, "", r.Now()); err != nil {
			return err
		}
		slog.InfoContext(ctx, "import handed over", "tenant", tenantID, "import", jobID, "at", ru.saved, "rows", ru.rows)
		return r.Trigger.Start(fin, tenantID, jobID)
	case err == errLeaseLost:
		slog.WarnContext(ctx, "import taken over", "tenant", tenantID, "import", jobID)
		return nil
	case errs.KindOf(err) == errs.Internal && errs.As(err).Code == "import_broken":
		slog.ErrorContext(ctx, "import failed", "tenant", tenantID, "import", jobID, "error", err)
		return r.Store.Finish(fin, tenantID, jobID, owner, StateFailed, "import_broken", r.Now())
	}
	// A passing failure (DynamoDB, a timeout): release the lease so that
	// the retry, or the next look at the job, resumes at once.
	slog.WarnContext(ctx, "import run stopped", "tenant", tenantID, "import", jobID, "at", ru.saved, "error", err)
	_ = r.Store.Finish(fin, tenantID, jobID, owner, StateRunning, "", r.Now())
	return err
}

// run is one invocation's pass over a job.
type run struct {
	*Runner
	job   Job
	owner string
	rows  int // rows handled by this run

	saved    int       // the cursor as stored
	pending  Progress  // counts of rows after saved that wrote nothing
	failures []Failure // failures of those rows, not yet stored
	depts    *departments
	multi    map[string]bool   // codes of the multiple-choice fields
	mobiles  map[string]string // normalised mobile → member id, as learnt
	accounts map[string]string
	lastSMS  time.Time
	// dir is the Directory with a store that answers the reads of a new
	// member from the page lookups.
	dir  *directory.Service
	prep *prefetched
}

func (ru *run) all(ctx context.Context) error {
	var err error
	if ru.depts, err = loadDepartments(ctx, ru.Directory, ru.job.TenantID); err != nil {
		return err
	}
	fields, version, err := ru.Directory.Store.Fields(ctx, ru.job.TenantID)
	if err != nil {
		return err
	}
	ru.prep = &prefetched{Store: ru.Directory.Store, defs: fields, version: version}
	dir := *ru.Directory
	dir.Store = ru.prep
	ru.dir = &dir
	ru.multi = map[string]bool{}
	for _, f := range fields {
		ru.multi[f.Code] = f.Type == directory.FieldMulti
	}
	ru.pending = Progress{From: ru.saved, To: ru.saved}
	for ci := range ru.job.Chunks {
		first := ru.job.Chunks[ci]
		last := ru.job.Total
		if ci+1 < len(ru.job.Chunks) {
			last = ru.job.Chunks[ci+1]
		}
		if last <= ru.saved {
			continue
		}
		rows, err := ru.Store.Chunk(ctx, ru.job, ci)
		if err != nil {
			return &errs.Error{Kind: errs.Internal, Code: "import_broken", Message: "the import's rows cannot be read", Err: err}
		}
		if len(rows) != last-first {
			return errs.E(errs.Internal, "import_broken", "chunk %d holds %d rows, not %d", ci, len(rows), last-first)
		}
		for start := max(ru.saved, first); start < last; start += page {
			end := min(start+page, last)
			if err := ru.page(ctx, rows[start-first:end-first], start); err != nil {
				return err
			}
		}
	}
	return ru.save(ctx)
}

// page imports rows, the first of which is row index at, after learning in
// two reads which of their mobiles and accounts members hold; the
// accounts include those a new member without one would be given.
func (ru *run) page(ctx context.Context, rows []Row, at int) error {
	ins := make([]rowInput, len(rows))
	var mobiles, accounts []string
	for i, row := range rows {
		ins[i] = ru.parse(ctx, row)
		if ins[i].mobile != "" && ru.mobiles[ins[i].mobile] == "" {
			mobiles = append(mobiles, ins[i].mobile)
		}
		if a := ins[i].account + ins[i].generated; a != "" && ru.accounts[a] == "" {
			accounts = append(accounts, a)
		}
	}
	if _, err := ru.learn(ctx, directory.UniqueMobile, mobiles, &ru.mobiles); err != nil {
		return err
	}
	held, err := ru.learn(ctx, directory.UniqueAccount, accounts, &ru.accounts)
	if err != nil {
		return err
	}
	ru.prep.learnt(accounts, held)
	for i, row := range rows {
		if err := ru.handOver(ctx); err != nil {
			return err
		}
		if err := ru.row(ctx, row, ins[i], at+i); err != nil {
			return err
		}
		ru.rows++
	}
	return nil
}

func (ru *run) learn(ctx context.Context, kind string, values []string, into *map[string]string) (map[string]string, error) {
	if *into == nil {
		*into = map[string]string{}
	}
	if len(values) == 0 {
		return nil, nil
	}
	held, err := ru.Directory.Holders(ctx, ru.job.TenantID, kind, values)
	if err != nil {
		return nil, err
	}
	for v, id := range held {
		(*into)[v] = id
	}
	return held, nil
}

// handOver ends the run when its budget is spent: the rows so far saved.
func (ru *run) handOver(ctx context.Context) error {
	spent := ru.MaxRows > 0 && ru.rows >= ru.MaxRows
	if d, ok := ctx.Deadline(); ok && time.Until(d) < reserve {
		spent = true
	}
	if !spent {
		return nil
	}
	if err := ru.save(ctx); err != nil {
		return err
	}
	return errHandOver
}

// row imports row index i: it creates the member, updates the one its
// mobile or account names, or records why not, and moves the cursor past
// it in the member's own transaction.
func (ru *run) row(ctx context.Context, row Row, in rowInput, i int) error {
	j := ru.job
	if in.err != nil {
		return ru.fail(ctx, row, in.err, i)
	}
	id := ru.mobiles[in.mobile]
	if id == "" && in.account != "" {
		id = ru.accounts[in.account]
	}
	step := ru.pending
	step.To = i + 1
	if id != "" && j.Mode == ModeCreateOnly {
		return ru.skip(ctx, i)
	}
	if err := ru.flushFailures(ctx); err != nil {
		return err
	}
	now := ru.Now()
	var m directory.Member
	var err error
	if id != "" {
		step.Updated++
		var changed bool
		m, changed, err = ru.Directory.ChangeMember(ctx, j.TenantID, id, in.patch, ru.advance(step, now))
		if err == nil && !changed {
			return ru.skip(ctx, i)
		}
	} else {
		step.Created++
		m, err = ru.create(ctx, in.member, ru.advance(step, now))
	}
	if err != nil {
		return ru.fail(ctx, row, err, i)
	}
	ru.saved, ru.pending = i+1, Progress{From: i + 1, To: i + 1}
	ru.mobiles[m.Mobile], ru.accounts[m.Account] = m.ID, m.ID
	delete(ru.prep.free, m.Account)
	if id == "" && j.Welcome {
		ru.welcome(ctx, m)
	}
	return nil
}

// create adds a member, its field definitions and generated account as the
// run read them ahead. A row those definitions refuse is judged again by a
// fresh read: they may be older than the tenant's.
func (ru *run) create(ctx context.Context, in directory.MemberInput, extra directory.Extra) (directory.Member, error) {
	ru.prep.arm()
	m, err := ru.dir.AddMember(ctx, ru.job.TenantID, in, extra)
	if err != nil && ru.prep.served && strings.HasPrefix(errs.As(err).Field, "fields.") {
		m, err = ru.dir.AddMember(ctx, ru.job.TenantID, in, extra)
	}
	ru.prep.armed = false
	return m, err
}

func (ru *run) advance(p Progress, now time.Time) directory.Extra {
	return directory.Extra{Update: ru.Store.Advance(ru.job.TenantID, ru.job.ID, ru.owner, p, now, now.Add(lease)), Err: errLeaseLost}
}

// skip counts row index i as skipped, to be saved with the next write.
func (ru *run) skip(ctx context.Context, i int) error {
	ru.pending.Skipped++
	ru.pending.To = i + 1
	return ru.maybeSave(ctx)
}

// fail records why row index i was not imported: a rule of the directory
// (what POST /v1/admin/members would answer) is the row's failure; anything
// else stops the run, to be resumed.
func (ru *run) fail(ctx context.Context, row Row, err error, i int) error {
	e := errs.As(err)
	if err == errLeaseLost || (e.Kind != errs.Invalid && e.Kind != errs.Conflict && e.Kind != errs.NotFound) {
		return err
	}
	field := e.Field
	if field == "departmentIds" {
		field = "departments"
	}
	ru.failures = append(ru.failures, Failure{Row: row.N, Field: field, Code: e.Code, Message: e.Message})
	ru.pending.Failed++
	ru.pending.To = i + 1
	return ru.maybeSave(ctx)
}

func (ru *run) maybeSave(ctx context.Context) error {
	if ru.pending.To-ru.saved < saveEvery {
		return nil
	}
	return ru.save(ctx)
}

func (ru *run) flushFailures(ctx context.Context) error {
	if len(ru.failures) == 0 {
		return nil
	}
	if err := ru.Store.PutFailures(ctx, ru.job, ru.failures); err != nil {
		return err
	}
	ru.failures = nil
	return nil
}

// save stores the failures and the cursor of rows that wrote nothing.
func (ru *run) save(ctx context.Context) error {
	if ru.pending.To == ru.saved {
		return nil
	}
	if err := ru.flushFailures(ctx); err != nil {
		return err
	}
	now := ru.Now()
	if err := ru.Store.Apply(ctx, ru.Store.Advance(ru.job.TenantID, ru.job.ID, ru.owner, ru.pending, now, now.Add(lease))); err != nil {
		return err
	}
	ru.saved = ru.pending.To
	ru.pending = Progress{From: ru.saved, To: ru.saved}
	return nil
}

// welcome sends a new member's welcome SMS, at most one per
// WelcomeInterval.
func (ru *run) welcome(ctx context.Context, m directory.Member) {
	every := ru.WelcomeInterval
	if every <= 0 {
		every = DefaultWelcomeInterval
	}
	if wait := time.Until(ru.lastSMS.Add(every)); wait > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	ru.lastSMS = time.Now()
	ru.Directory.Welcome(ctx, ru.job.TenantCode, m)
}

// rowInput is a row read as a new member and as a patch of a matched one.
type rowInput struct {
	mobile, account string // normalised, for matching; "" if unusable
	// generated is the account a new member without one would first be
	// given ("" when the row has an account or an unusable name).
	generated string
	member    directory.MemberInput
	patch     directory.MemberPatch
	err       error // a department path that cannot be resolved
}

var roleLabels = map[string]string{"管理员": directory.RoleAdmin, "成员": directory.RoleMember, "普通成员": directory.RoleMember}

// parse reads a row into a member input and a patch: an empty cell leaves
// a matched member's attribute as it is.
func (ru *run) parse(ctx context.Context, row Row) rowInput {
	var in rowInput
	m := &in.member
	p := &in.patch
	set := func(dst *string, pdst **string, v string) {
		*dst = v
		if v != "" {
			*pdst = &v
		}
	}
	for c, key := range ru.job.Columns {
		v := row.Cells[c]
		switch key {
		case "name":
			set(&m.Name, &p.Name, v)
		case "mobile":
			set(&m.Mobile, &p.Mobile, v)
			if n, err := directory.NormalizeMobile("mobile", v); err == nil {
				in.mobile = n
			}
		case "account":
			set(&m.Account, &p.Account, v)
			if n, err := directory.NormalizeAccount("account", v); err == nil && v != "" {
				in.account = n
			}
		case "email":
			set(&m.Email, &p.Email, v)
		case "position":
			set(&m.Position, &p.Position, v)
		case "employeeNo":
			set(&m.EmployeeNo, &p.EmployeeNo, v)
		case "role":
			if r, ok := roleLabels[v]; ok {
				v = r
			}
			set(&m.Role, &p.Role, v)
		case "departments":
			if v == "" {
				continue
			}
			depIDs, err := ru.depts.resolve(ctx, ru.Directory, ru.job, v)
			if err != nil {
				in.err = err
				continue
			}
			m.DepartmentIDs = depIDs
			p.DepartmentIDs = &depIDs
		default:
			code, ok := strings.CutPrefix(key, fieldPrefix)
			if !ok || v == "" {
				continue
			}
			if m.Fields == nil {
				m.Fields, p.Fields = map[string]any{}, map[string]any{}
			}
			var val any = v
			if ru.multi[code] {
				var list []any
				for _, x := range splitList(v) {
					list = append(list, x)
				}
				val = list
			}
			m.Fields[code], p.Fields[code] = val, val
		}
	}
	if m.Account == "" {
		if n, err := directory.NormalizeName("name", m.Name); err == nil {
			in.generated = directory.AccountFromName(n)
		}
	}
	return in
}

// splitList splits a cell holding several values by ";" (or "；").
func splitList(v string) []string {
	var out []string
	for _, x := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == '；' }) {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
