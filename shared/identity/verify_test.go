package identity_test

import (
	"context"
	"sync"
	"testing"

	"workbench/shared/errs"
	"workbench/shared/identity"
)

// TestVerifyForOtherCapabilities drives identity.Codes.Verify the way
// registration uses it: with codes sent for "register" by the sms-codes
// route, to a mobile that is no member.
func TestVerifyForOtherCapabilities(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)
	secret, err := s.Env.Secret(context.Background(), "INDEX_KEY_SECRET")
	if err != nil {
		t.Fatal(err)
	}
	codes, err := identity.NewCodes(s.Env.DynamoDB, s.Tables["IdentityTable"], secret, s.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mobile := s.Mobile()
	var undo func(context.Context)
	verify := func(code string) (err error) {
		undo, err = codes.Verify(ctx, ten.ID, mobile, identity.PurposeRegister, code)
		return err
	}

	code := requestCode(t, s, ten.Code, mobile, "register")
	if err := verify(wrongCode(code)); !errs.Is(err, "invalid_code") || errs.KindOf(err) != errs.Invalid || errs.As(err).Field != "code" {
		t.Fatalf("wrong code: %v", err)
	}
	if _, err := codes.Verify(ctx, ten.ID, mobile, identity.PurposeLogin, code); !errs.Is(err, "invalid_code") {
		t.Fatalf("code of another purpose: %v", err)
	}
	if _, err := codes.Verify(ctx, "another-tenant", mobile, identity.PurposeRegister, code); !errs.Is(err, "invalid_code") {
		t.Fatalf("code of another tenant: %v", err)
	}
	if err := verify(code); err != nil {
		t.Fatalf("right code: %v", err)
	}
	// A request that failed after using the code gives it back, once.
	undo(ctx)
	if err := verify(code); err != nil {
		t.Fatalf("code given back: %v", err)
	}
	if err := verify(code); !errs.Is(err, "invalid_code") {
		t.Fatalf("used code: %v", err)
	}
	want(t, "next code right after a verified one", s.Do(t, "POST", "/v1/auth/sms-codes", "", codeBody(ten.Code, mobile, "register")), 202, "")

	code = requestCode(t, s, ten.Code, mobile, "register")
	s.Clock.Add(identity.CodeTTL)
	if err := verify(code); !errs.Is(err, "code_expired") {
		t.Fatalf("expired code: %v", err)
	}

	code = requestCode(t, s, ten.Code, mobile, "register")
	for i := 0; i < identity.CodeMaxTries; i++ {
		if err := verify(wrongCode(code)); !errs.Is(err, "invalid_code") {
			t.Fatalf("wrong try %d: %v", i+1, err)
		}
	}
	if err := verify(code); !errs.Is(err, "code_exhausted") {
		t.Fatalf("right code after %d wrong tries: %v", identity.CodeMaxTries, err)
	}

	for _, c := range []struct{ mobile, purpose, code, field string }{
		{"123", identity.PurposeRegister, "123456", "mobile"},
		{mobile, "nope", "123456", "purpose"},
		{mobile, identity.PurposeRegister, "12345", "code"},
	} {
		_, err := codes.Verify(ctx, ten.ID, c.mobile, c.purpose, c.code)
		if errs.KindOf(err) != errs.Invalid || errs.As(err).Field != c.field {
			t.Errorf("Verify(%q, %q, %q) = %v, want 400 on %s", c.mobile, c.purpose, c.code, err, c.field)
		}
	}
}

// TestCodeUsedOnceUnderConcurrency sends the same login code in parallel:
// exactly one login succeeds.
func TestCodeUsedOnceUnderConcurrency(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)
	code := requestCode(t, s, ten.Code, ten.AdminMobile, "login")
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = s.Do(t, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, code)).Status
		}()
	}
	wg.Wait()
	ok := 0
	for _, st := range statuses {
		switch st {
		case 200:
			ok++
		case 401:
		default:
			t.Errorf("status %d", st)
		}
	}
	if ok != 1 {
		t.Errorf("%d logins with one code succeeded, want 1 (%v)", ok, statuses)
	}
}
