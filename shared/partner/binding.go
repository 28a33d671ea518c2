package partner

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"workbench/shared/audit"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/tenant"
)

// active reports whether the binding may receive sync calls at now: bound,
// not expired by the marketplace and not past its expiry time.
func (b Binding) active(now time.Time) bool {
	return b.State == StateActive && (b.ExpireTime == nil || now.Before(*b.ExpireTime))
}

// view is the binding as admins see it: a binding past its expiry time
// shows as expired even before the marketplace says so.
func (b Binding) view(now time.Time) Binding {
	if b.State == StateActive && !b.active(now) {
		b.State = StateExpired
	}
	if b.DepartmentIDs == nil {
		b.DepartmentIDs = []string{}
	}
	if b.MemberIDs == nil {
		b.MemberIDs = []string{}
	}
	return b
}

// newCall appends a call to b's outbox (the caller commits it with b).
func (s *Service) newCall(b *Binding, kind string, flag int, body any, users int) (Call, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return Call{}, errs.Wrap(err, "encode "+kind)
	}
	now := s.Now().UTC()
	b.Seq++
	c := Call{
		PK: outboxPK(b.TenantID, b.AppID), SK: callSK(b.Seq), ID: callID(b.Seq),
		TenantID: b.TenantID, AppID: b.AppID, Kind: kind, Flag: flag, Users: users,
		Status: CallPending, Attempts: []Attempt{}, CreatedAt: now, UpdatedAt: now,
	}
	c.Body = s.Keys.Seal(string(raw), callAAD(c.PK, c.SK))
	c.setDue(now)
	return c, nil
}

// authCalls appends authSync calls for ids (flag), split into batches of
// MaxUsersPerCall. Users no longer in the directory are sent with their
// id only.
func (s *Service) authCalls(b *Binding, sc scope, known map[string]directory.Member, ext map[string]string, flag int, ids []string) ([]Call, error) {
	var calls []Call
	var list []User
	size := 0
	flush := func() error {
		if len(list) == 0 {
			return nil
		}
		c, err := s.newCall(b, KindAuthSync, flag, AuthSync{
			TestFlag: s.TestFlag, InstanceID: b.InstanceID, TenantID: b.TenantID, AppID: b.AppID,
			Flag: flag, CurrentSyncTime: s.Now().UnixMilli(), UserList: list,
		}, len(list))
		calls = append(calls, c)
		list, size = nil, 0
		return err
	}
	for _, id := range ids {
		u := User{UserID: id, Enable: "false", Extension: rawObject("")}
		if m, ok := known[id]; ok {
			u = sc.user(m, s.openExtension(b, id, ext[id]))
		}
		// A call is stored as one outbox item (at most 400 KB), so large
		// extension data splits a batch before 500 users.
		n := len(u.Name) + len(u.UserName) + len(u.Position) + len(u.Email) + len(u.Extension) + 300
		if len(list) == MaxUsersPerCall || size+n > maxCallBytes {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		list = append(list, u)
		size += n
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return calls, nil
}

// maxCallBytes bounds a call body so that, sealed and base64-encoded, it
// fits in one DynamoDB item.
const maxCallBytes = 240 << 10

func (s *Service) openExtension(b *Binding, memberID, sealed string) string {
	if sealed == "" {
		return ""
	}
	plain, err := s.Keys.Open(sealed, extensionAAD(tenantPK(b.TenantID), extensionSK(b.AppID, memberID)))
	if err != nil {
		return ""
	}
	return plain
}

// bindingCalls are the calls of a new binding: tenantSync, applicationSync
// with the encrypted client secret, allOrgSync of the scope, and authSync
// for the users already in it.
func (s *Service) bindingCalls(ctx context.Context, b *Binding, t tenant.Tenant, app App) ([]Call, error) {
	secret, err := s.Keys.Open(app.ClientSecret, appSecretAAD(app.ID))
	if err != nil {
		return nil, errs.Wrap(err, "open client secret")
	}
	pub, err := ParsePublicKey("publicKey", app.PublicKey)
	if err != nil {
		return nil, errs.Wrap(err, "parse stored public key")
	}
	enc, err := EncryptSecret(pub, secret)
	if err != nil {
		return nil, errs.Wrap(err, "encrypt client secret")
	}
	var calls []Call
	add := func(kind string, flag int, body any) error {
		c, err := s.newCall(b, kind, flag, body, 0)
		calls = append(calls, c)
		return err
	}
	if err := add(KindTenantSync, FlagAdd, s.tenantBody(*b, t, FlagAdd)); err != nil {
		return nil, err
	}
	if err := add(KindApplicationSync, FlagAdd, ApplicationSync{
		TestFlag: s.TestFlag, InstanceID: b.InstanceID, TenantID: b.TenantID, AppID: b.AppID,
		ClientID: app.ClientID, ClientSecret: enc, Flag: FlagAdd,
	}); err != nil {
		return nil, err
	}
	var sc scope
	if len(b.DepartmentIDs)+len(b.MemberIDs) > 0 {
		snap, err := s.Directory.Snapshot(ctx, b.TenantID)
		if err != nil {
			return nil, err
		}
		sc = resolve(snap, b.DepartmentIDs, b.MemberIDs)
	}
	if err := add(KindAllOrgSync, FlagAdd, AllOrgSync{
		TestFlag: s.TestFlag, InstanceID: b.InstanceID, TenantID: b.TenantID, OrgInfoList: sc.orgList(),
	}); err != nil {
		return nil, err
	}
	b.Users, b.Orgs = sc.userIDs(), sc.orgIDs()
	if len(b.Users) > 0 {
		ext, err := s.Store.Extensions(ctx, b.TenantID, b.AppID)
		if err != nil {
			return nil, err
		}
		more, err := s.authCalls(b, sc, sc.users, ext, FlagAdd, b.Users)
		if err != nil {
			return nil, err
		}
		calls = append(calls, more...)
	}
	return calls, nil
}

func (s *Service) tenantBody(b Binding, t tenant.Tenant, flag int) TenantSync {
	login := t.LoginURL
	if login == "" {
		login = strings.ReplaceAll(s.LoginURL, "{tenant}", t.Code)
	}
	return TenantSync{
		TestFlag: s.TestFlag, InstanceID: b.InstanceID, OrderID: b.OrderID, TenantID: b.TenantID,
		TenantCode: t.Code, Name: t.Name, DomainName: domainOf(login), Flag: flag,
	}
}

// byID indexes a snapshot's members.
func byID(members []directory.Member) map[string]directory.Member {
	m := make(map[string]directory.Member, len(members))
	for _, u := range members {
		m[u.ID] = u
	}
	return m
}

// Bind binds app to the admin's tenant through the platform registry.
func (s *Service) Bind(ctx context.Context, tenantID, tenantCode, appID string) (Binding, error) {
	app, err := s.Store.GetApp(ctx, appID)
	if err != nil {
		return Binding{}, err
	}
	t, err := s.Tenants.Get(ctx, tenantCode)
	if err != nil {
		return Binding{}, err
	}
	if t.ID != tenantID {
		return Binding{}, errs.NotFoundf("tenant_not_found", "no such tenant")
	}
	now := s.Now().UTC()
	b := Binding{
		TenantID: tenantID, TenantCode: t.Code, AppID: app.ID, InstanceID: newID(now), EventCursor: eventCursorAt(now),
		Source: SourceRegistry, State: StateActive, BoundAt: now, UpdatedAt: now,
		DepartmentIDs: []string{}, MemberIDs: []string{},
	}
	return s.create(ctx, b, t, app, nil)
}

func (s *Service) create(ctx context.Context, b Binding, t tenant.Tenant, app App, order *Order) (Binding, error) {
	old, err := s.Store.GetBinding(ctx, b.TenantID, b.AppID)
	switch {
	case err == nil && old.State != StateReleased:
		return Binding{}, errs.E(errs.Conflict, "already_bound", "the app is bound to this tenant already (through the %s)", old.Source)
	case err == nil:
		// A re-bound app continues its outbox where the released binding left it.
		b.Seq = old.Seq
	case errs.KindOf(err) != errs.NotFound:
		return Binding{}, err
	}
	calls, err := s.bindingCalls(ctx, &b, t, app)
	if err != nil {
		return Binding{}, err
	}
	bind := &audit.Change{Action: audit.AppBind, Target: "app/" + b.AppID}
	if err := s.Store.Commit(ctx, Change{Binding: b, Create: true, Calls: calls, Order: order, Audit: bind}); err != nil {
		return Binding{}, err
	}
	s.kick(ctx, b)
	return b.view(s.Now()), nil
}

func (s *Service) kick(ctx context.Context, b Binding) {
	if s.Trigger != nil {
		s.Trigger.Kick(ctx, []BindingKey{{TenantID: b.TenantID, AppID: b.AppID}})
	}
}

// liveBinding returns the tenant's binding of app, 404 when there is none.
func (s *Service) liveBinding(ctx context.Context, tenantID, appID string) (Binding, error) {
	b, err := s.Store.GetBinding(ctx, tenantID, appID)
	if errs.KindOf(err) == errs.NotFound || err == nil && b.State == StateReleased {
		return Binding{}, errs.NotFoundf("binding_not_found", "the app is not bound to this tenant")
	}
	return b, err
}

func (s *Service) requireActive(b Binding) error {
	if !b.active(s.Now()) {
		return errs.E(errs.Conflict, "binding_expired", "the app's instance has expired for this tenant")
	}
	return nil
}

// Scope is a visibility scope as admins set it.
type Scope struct {
	DepartmentIDs []string `json:"departmentIds"`
	MemberIDs     []string `json:"memberIds"`
}

// MaxScopeUsers bounds the members of one scope: the binding item lists
// them (what the partner was told), and an item holds at most 400 KB.
const MaxScopeUsers = 10000

// MaxScopeEntries bounds the departments and members named in a scope.
const MaxScopeEntries = 1000

func cleanIDs(field string, ids []string) ([]string, error) {
	if len(ids) > MaxScopeEntries {
		return nil, errs.Invalidf(field, "too_many_ids", "%s may name at most %d entries", field, MaxScopeEntries)
	}
	seen := map[string]bool{}
	out := []string{}
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" {
			return nil, errs.Invalidf(field, "invalid_id", "%s holds an empty id", field)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out, nil
}

// ScopeChange reports a visibility change.
type ScopeChange struct {
	Binding Binding `json:"binding"`
	Entered int     `json:"entered"`
	Left    int     `json:"left"`
	Calls   int     `json:"calls"`
}

// SetVisibility replaces a binding's scope and queues the sync calls for
// the difference: allOrgSync when the departments changed, authSync flag 1
// for users entering, flag 3 for users leaving.
func (s *Service) SetVisibility(ctx context.Context, tenantID, appID string, in Scope) (ScopeChange, error) {
	deptIDs, err := cleanIDs("departmentIds", in.DepartmentIDs)
	if err != nil {
		return ScopeChange{}, err
	}
	memberIDs, err := cleanIDs("memberIds", in.MemberIDs)
	if err != nil {
		return ScopeChange{}, err
	}
	b, err := s.liveBinding(ctx, tenantID, appID)
	if err != nil {
		return ScopeChange{}, err
	}
	if err := s.requireActive(b); err != nil {
		return ScopeChange{}, err
	}
	snap, err := s.Directory.Snapshot(ctx, tenantID)
	if err != nil {
		return ScopeChange{}, err
	}
	if err := known(snap, deptIDs, memberIDs); err != nil {
		return ScopeChange{}, err
	}
	ext, err := s.Store.Extensions(ctx, tenantID, appID)
	if err != nil {
		return ScopeChange{}, err
	}
	prev := b.Seq
	sc := resolve(snap, deptIDs, memberIDs)
	users, orgs := sc.userIDs(), sc.orgIDs()
	if len(users) > MaxScopeUsers {
		return ScopeChange{}, errs.Invalidf("departmentIds", "scope_too_large", "the scope holds %d members; at most %d can see one app", len(users), MaxScopeUsers)
	}
	entered, left := diff(b.Users, users), diff(users, b.Users)
	var calls []Call
	if !sameSet(b.Orgs, orgs) {
		c, err := s.newCall(&b, KindAllOrgSync, FlagModify, AllOrgSync{
			TestFlag: s.TestFlag, InstanceID: b.InstanceID, TenantID: b.TenantID, OrgInfoList: sc.orgList(),
		}, 0)
		if err != nil {
			return ScopeChange{}, err
		}
		calls = append(calls, c)
	}
	all := byID(snap.Members)
	more, err := s.authCalls(&b, sc, all, ext, FlagAdd, entered)
	if err != nil {
		return ScopeChange{}, err
	}
	calls = append(calls, more...)
	more, err = s.authCalls(&b, sc, all, ext, FlagRevoked, left)
	if err != nil {
		return ScopeChange{}, err
	}
	calls = append(calls, more...)
	b.DepartmentIDs, b.MemberIDs, b.Users, b.Orgs = deptIDs, memberIDs, users, orgs
	b.UpdatedAt = s.Now().UTC()
	if err := s.Store.Commit(ctx, Change{Binding: b, PrevSeq: prev, Calls: calls, Audit: &audit.Change{Action: audit.AppVisibilityUpdate, Target: "app/" + appID, Fields: []string{"departmentIds", "memberIds"}}}); err != nil {
		return ScopeChange{}, err
	}
	if len(calls) > 0 {
		s.kick(ctx, b)
	}
	return ScopeChange{Binding: b.view(s.Now()), Entered: len(entered), Left: len(left), Calls: len(calls)}, nil
}

func known(snap Snapshot, deptIDs, memberIDs []string) error {
	depts := map[string]bool{}
	for _, d := range snap.Departments {
		depts[d.ID] = true
	}
	for _, id := range deptIDs {
		if !depts[id] {
			return errs.Invalidf("departmentIds", "unknown_department", "departmentIds: no department %q in this tenant", id)
		}
	}
	members := map[string]bool{}
	for _, m := range snap.Members {
		members[m.ID] = true
	}
	for _, id := range memberIDs {
		if !members[id] {
			return errs.Invalidf("memberIds", "unknown_member", "memberIds: no member %q in this tenant", id)
		}
	}
	return nil
}

// ExtensionInput sets per-member extension data: a JSON object per member
// id; an empty object or null removes the member's data. The canonical
// shape is {"members":{"<id>":{...}}}; {"extensions":{...}},
// {"memberId","extension"} and {"items":[{"memberId","extension"}]} are
// read the same way.
type ExtensionInput struct {
	Members    map[string]json.RawMessage `json:"members"`
	Extensions map[string]json.RawMessage `json:"extensions"`
	MemberID   string                     `json:"memberId"`
	Extension  json.RawMessage            `json:"extension"`
	Items      []struct {
		MemberID  string          `json:"memberId"`
		Extension json.RawMessage `json:"extension"`
	} `json:"items"`
}

// members merges the shapes of in into one map.
func (in ExtensionInput) members() (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	for id, v := range in.Members {
		out[id] = v
	}
	for id, v := range in.Extensions {
		out[id] = v
	}
	if in.MemberID != "" || in.Extension != nil {
		if strings.TrimSpace(in.MemberID) == "" {
			return nil, errs.Invalidf("memberId", "member_required", "memberId is required with extension")
		}
		out[in.MemberID] = in.Extension
	}
	for i, it := range in.Items {
		if strings.TrimSpace(it.MemberID) == "" {
			return nil, errs.Invalidf(fmt.Sprintf("items[%d].memberId", i), "member_required", "items[%d].memberId is required", i)
		}
		out[it.MemberID] = it.Extension
	}
	return out, nil
}

// MaxExtensionBytes bounds one member's extension data.
const MaxExtensionBytes = 4096

// ExtensionChange reports an extension update.
type ExtensionChange struct {
	Updated int `json:"updated"`
	Calls   int `json:"calls"`
}

// SetExtension stores extension data and sends authSync flag 2 for the
// users in scope whose data changed.
func (s *Service) SetExtension(ctx context.Context, tenantID, appID string, in ExtensionInput) (ExtensionChange, error) {
	members, err := in.members()
	if err != nil {
		return ExtensionChange{}, err
	}
	if len(members) == 0 {
		return ExtensionChange{}, errs.Invalidf("members", "members_required", "members must map member ids to JSON objects")
	}
	if len(members) > 50 {
		return ExtensionChange{}, errs.Invalidf("members", "too_many_members", "members may hold at most 50 members per call")
	}
	b, err := s.liveBinding(ctx, tenantID, appID)
	if err != nil {
		return ExtensionChange{}, err
	}
	if err := s.requireActive(b); err != nil {
		return ExtensionChange{}, err
	}
	snap, err := s.Directory.Snapshot(ctx, tenantID)
	if err != nil {
		return ExtensionChange{}, err
	}
	all := byID(snap.Members)
	ext, err := s.Store.Extensions(ctx, tenantID, appID)
	if err != nil {
		return ExtensionChange{}, err
	}
	sealed := map[string]string{}
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		raw := members[id]
		if len(raw) == 0 {
			raw = json.RawMessage("null")
		}
		field := "members." + id
		if _, ok := all[id]; !ok {
			return ExtensionChange{}, errs.Invalidf(field, "unknown_member", "%s: no such member in this tenant", field)
		}
		if len(raw) > MaxExtensionBytes {
			return ExtensionChange{}, errs.Invalidf(field, "extension_too_large", "%s must be at most %d bytes", field, MaxExtensionBytes)
		}
		var obj map[string]any
		if string(raw) != "null" {
			if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
				return ExtensionChange{}, errs.Invalidf(field, "extension_not_object", "%s must be a JSON object", field)
			}
		}
		plain := ""
		if len(obj) > 0 {
			compact, _ := json.Marshal(obj)
			plain = string(compact)
		}
		aad := extensionAAD(tenantPK(tenantID), extensionSK(appID, id))
		if s.sameExtension(ext[id], plain, aad) {
			// Unchanged (a retried request, say): nothing to store or send.
			continue
		}
		sealed[id] = ""
		if plain != "" {
			sealed[id] = s.Keys.Seal(plain, aad)
		}
		ext[id] = sealed[id]
	}
	if len(sealed) == 0 {
		return ExtensionChange{Updated: len(ids)}, nil
	}
	inScope := map[string]bool{}
	for _, id := range b.Users {
		inScope[id] = true
	}
	var changed []string
	for _, id := range ids {
		if _, ok := sealed[id]; ok && inScope[id] {
			changed = append(changed, id)
		}
	}
	prev := b.Seq
	sc := resolve(snap, b.DepartmentIDs, b.MemberIDs)
	calls, err := s.authCalls(&b, sc, all, ext, FlagModify, changed)
	if err != nil {
		return ExtensionChange{}, err
	}
	b.UpdatedAt = s.Now().UTC()
	if err := s.Store.Commit(ctx, Change{Binding: b, PrevSeq: prev, Calls: calls, Extensions: sealed, Audit: &audit.Change{Action: audit.AppExtensionUpdate, Target: "app/" + appID, Fields: []string{"extension"}}}); err != nil {
		return ExtensionChange{}, err
	}
	if len(calls) > 0 {
		s.kick(ctx, b)
	}
	return ExtensionChange{Updated: len(ids), Calls: len(calls)}, nil
}

// sameExtension reports whether the stored (sealed) extension data of a
// member holds plain ("" for none).
func (s *Service) sameExtension(stored, plain, aad string) bool {
	if stored == "" {
		return plain == ""
	}
	opened, err := s.Keys.Open(stored, aad)
	return err == nil && opened == plain
}

// LogPage is a page of sync log entries, newest first.
type LogPage struct {
	Items      []LogEntry `json:"items"`
	NextCursor string     `json:"nextCursor,omitempty"`
}

// LogEntry is a call as the sync log shows it.
type LogEntry struct {
	Call
	AttemptCount int    `json:"attempts"`
	LastStatus   int    `json:"lastStatus,omitempty"`
	Response     string `json:"response,omitempty"`
	LastError    string `json:"lastError,omitempty"`
}

func entry(c Call) LogEntry {
	e := LogEntry{Call: c, AttemptCount: len(c.Attempts)}
	if e.Attempts == nil {
		e.Attempts = []Attempt{}
	}
	if n := len(c.Attempts); n > 0 {
		last := c.Attempts[n-1]
		e.LastStatus, e.Response, e.LastError = last.HTTPStatus, last.ResultCode, last.Error
	}
	return e
}

// SyncLogs lists a binding's calls, newest first. Logs stay readable after
// the app is released.
func (s *Service) SyncLogs(ctx context.Context, tenantID, appID, cursor string, limit int) (LogPage, error) {
	if _, err := s.Store.GetBinding(ctx, tenantID, appID); err != nil {
		if errs.KindOf(err) == errs.NotFound {
			return LogPage{}, errs.NotFoundf("binding_not_found", "the app was never bound to this tenant")
		}
		return LogPage{}, err
	}
	// A cursor is the id of the last call of its page, of this binding.
	cursors := dynamo.ListCursors("partner/sync-logs", tenantID, appID)
	var after, from string
	ok, err := cursors.Decode(cursor, &after)
	if err != nil || ok && (len(after) != 10 || strings.Trim(after, "0123456789") != "") {
		return LogPage{}, dynamo.InvalidCursor()
	}
	if ok {
		from = "CALL#" + after
	}
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	calls, next, err := s.Store.Calls(ctx, BindingKey{tenantID, appID}, from, limit+1, false)
	if err != nil {
		return LogPage{}, err
	}
	if from != "" && len(calls) > 0 && calls[0].SK == from {
		calls = calls[1:]
	}
	page := LogPage{Items: []LogEntry{}}
	for i, c := range calls {
		if i == limit {
			page.NextCursor = cursors.Encode(page.Items[len(page.Items)-1].ID)
			break
		}
		page.Items = append(page.Items, entry(c))
	}
	if page.NextCursor == "" && next != "" && len(page.Items) > 0 {
		page.NextCursor = cursors.Encode(page.Items[len(page.Items)-1].ID)
	}
	return page, nil
}

// Resend queues a copy of a call at the end of the binding's outbox (so
// that it cannot overtake calls queued after it was first sent) and
// returns its log entry. The original keeps its own history.
func (s *Service) Resend(ctx context.Context, tenantID, appID, id string) (LogEntry, error) {
	b, err := s.liveBinding(ctx, tenantID, appID)
	if err != nil {
		return LogEntry{}, err
	}
	if err := s.requireActive(b); err != nil {
		return LogEntry{}, err
	}
	old, err := s.Store.GetCall(ctx, BindingKey{tenantID, appID}, id)
	if err != nil {
		return LogEntry{}, err
	}
	if old.Status == CallPending {
		return LogEntry{}, errs.E(errs.Conflict, "call_pending", "this call is still being delivered")
	}
	plain, err := s.Keys.Open(old.Body, callAAD(old.PK, old.SK))
	if err != nil {
		return LogEntry{}, errs.Wrap(err, "open call body")
	}
	prev := b.Seq
	c, err := s.newCall(&b, old.Kind, old.Flag, json.RawMessage(plain), old.Users)
	if err != nil {
		return LogEntry{}, err
	}
	c.ResendOf = old.ID
	b.UpdatedAt = s.Now().UTC()
	if err := s.Store.Commit(ctx, Change{Binding: b, PrevSeq: prev, Calls: []Call{c}, Audit: &audit.Change{Action: audit.AppSyncRetry, Target: "app/" + appID + "/sync-logs/" + id}}); err != nil {
		return LogEntry{}, err
	}
	s.kick(ctx, b)
	return entry(c), nil
}
