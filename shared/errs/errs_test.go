package errs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestWrapKeepsKindsAndHidesCauses(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.5:443: connection refused")
	e := As(Wrap(cause, "put item"))
	if e.Kind != Internal || e.Message != "internal error" || !errors.Is(e, cause) {
		t.Errorf("wrapped internal error %+v", e)
	}
	if strings.Contains(e.Message, "10.0.0.5") {
		t.Error("the caller's message shows the cause")
	}
	inv := Invalidf("mobile", "invalid_mobile", "mobile must be %d digits", 11)
	if Wrap(inv, "create") != error(inv) {
		t.Error("Wrap changed an error that already has a kind")
	}
	wrapped := fmt.Errorf("handler: %w", inv)
	if KindOf(wrapped) != Invalid || !Is(wrapped, "invalid_mobile") || As(wrapped).Field != "mobile" {
		t.Error("kind, code or field lost through fmt.Errorf wrapping")
	}
	if KindOf(errors.New("plain")) != Internal || Wrap(nil, "x") != nil {
		t.Error("plain errors are internal; Wrap(nil) is nil")
	}
	if Locked.String() != "locked" || Kind(99).String() != "kind(99)" {
		t.Error("kind names")
	}
}
