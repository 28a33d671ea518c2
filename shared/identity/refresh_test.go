package identity

import (
	"context"
	"testing"
	"time"

	"workbench/shared/auth"
	"workbench/shared/directory"
	"workbench/shared/errs"
)

// refreshStore is a Store for Refresh alone: it reads one session and
// records rotations and revocations.
type refreshStore struct {
	Store
	sess    *sessionRecord
	member  *directory.Principal
	lost    bool // the rotation is lost to another request
	rotated []rotation
	revoked []string
}

func (f *refreshStore) refreshing(_ context.Context, tenantID, sessionID, memberID string) (*sessionRecord, *directory.Principal, *credRecord, error) {
	if f.sess == nil || f.sess.TenantID != tenantID || f.sess.ID != sessionID {
		return nil, nil, nil, nil
	}
	return f.sess, f.member, &credRecord{MemberID: memberID}, nil
}

func (f *refreshStore) rotate(_ context.Context, r rotation) error {
	if f.lost {
		return errRotated
	}
	f.rotated = append(f.rotated, r)
	return nil
}

func (f *refreshStore) revoke(_ context.Context, _, sessionID string, _ time.Time) error {
	f.revoked = append(f.revoked, sessionID)
	return nil
}

// TestRefreshRules drives Refresh against a store that holds a session at
// its second generation, whose first token is remembered as used.
func TestRefreshRules(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	h, err := NewHasher("0123456789abcdef0123456789abcdef", LabelRefresh)
	if err != nil {
		t.Fatal(err)
	}
	svc := &Service{RefreshKey: h, Now: func() time.Time { return now },
		Tokens: &auth.Tokens{Key: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return now }}}
	first, current := newRefreshToken("t1", "m1", "s1", 1), newRefreshToken("t1", "m1", "s1", 2)
	other := newRefreshToken("t1", "m2", "s1", 2)
	session := func() *sessionRecord {
		s := &sessionRecord{Session: auth.NewSession("s1", "t1", "acme", "m1", MethodSMS, now.Add(-time.Hour), time.Hour*24)}
		s.Generation, s.RefreshHash, s.PrevHashes = 2, svc.refreshHash(current), []string{svc.refreshHash(first)}
		return s
	}
	enabled := &directory.Principal{Role: "member", Enabled: true}
	tests := []struct {
		name    string
		token   string
		store   *refreshStore
		want    string // error code, "" for a rotation
		revoked bool
	}{
		{"current token", current, &refreshStore{sess: session(), member: enabled}, "", false},
		{"rotation lost to a copy", current, &refreshStore{sess: session(), member: enabled, lost: true}, "refresh_token_reused", true},
		{"used token", first, &refreshStore{sess: session(), member: enabled}, "refresh_token_reused", true},
		{"another member's ids", other, &refreshStore{sess: session(), member: enabled}, "invalid_refresh_token", false},
		{"no session", current, &refreshStore{member: enabled}, "invalid_refresh_token", false},
		{"revoked session", current, &refreshStore{sess: func() *sessionRecord { s := session(); s.RevokedAt = &now; return s }(), member: enabled}, "session_revoked", false},
		{"used token of a disabled member", first, &refreshStore{sess: session(), member: &directory.Principal{}}, "account_disabled", false},
		{"member gone", current, &refreshStore{sess: session()}, "session_revoked", false},
	}
	for _, tt := range tests {
		svc.Store = tt.store
		out, err := svc.Refresh(context.Background(), RefreshInput{RefreshToken: tt.token})
		switch {
		case tt.want == "" && (err != nil || out.RefreshToken == "" || len(tt.store.rotated) != 1 || tt.store.rotated[0].gen != 2 ||
			tt.store.rotated[0].next != svc.refreshHash(out.RefreshToken) || len(tt.store.rotated[0].prev) != 2):
			t.Errorf("%s: %+v %v, rotated %+v", tt.name, out, err, tt.store.rotated)
		case tt.want != "" && !errs.Is(err, tt.want):
			t.Errorf("%s: %v, want %s", tt.name, err, tt.want)
		case tt.revoked != (len(tt.store.revoked) == 1):
			t.Errorf("%s: revoked %v", tt.name, tt.store.revoked)
		}
	}
}
