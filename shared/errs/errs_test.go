package errs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
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

func TestTransientFailuresAskForARetry(t *testing.T) {
	code := func(c string) *string { return &c }
	cancelled := func(reasons ...string) error {
		tce := &types.TransactionCanceledException{}
		for _, r := range reasons {
			tce.CancellationReasons = append(tce.CancellationReasons, types.CancellationReason{Code: code(r)})
		}
		return tce
	}
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"throttled", &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException"}, Unavailable},
		{"rate exceeded", &smithy.GenericAPIError{Code: "ThrottlingException"}, Unavailable},
		{"server fault", &smithy.GenericAPIError{Code: "Whatever", Fault: smithy.FaultServer}, Unavailable},
		{"deadline", fmt.Errorf("send: %w", context.DeadlineExceeded), Unavailable},
		{"conflict only", cancelled("None", "TransactionConflict"), Unavailable},
		{"throttled item", cancelled("ThrottlingError", "None"), Unavailable},
		{"failed condition", cancelled("ConditionalCheckFailed", "TransactionConflict"), Internal},
		{"validation", &smithy.GenericAPIError{Code: "ValidationException"}, Internal},
		{"plain", errors.New("boom"), Internal},
	}
	for _, tt := range tests {
		e := As(Wrap(tt.err, "call"))
		if e.Kind != tt.want {
			t.Errorf("%s: kind %v, want %v", tt.name, e.Kind, tt.want)
		}
		if e.Kind == Unavailable && (e.RetryAfter <= 0 || e.Code != "unavailable" || !errors.Is(e, tt.err)) {
			t.Errorf("%s: %+v", tt.name, e)
		}
		if KindOf(tt.err) != tt.want {
			t.Errorf("%s: unwrapped kind %v, want %v", tt.name, KindOf(tt.err), tt.want)
		}
	}
}
