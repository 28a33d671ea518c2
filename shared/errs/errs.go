// Package errs is Workbench's one error model: every failure a caller can
// act on is an *Error with a Kind, a stable snake_case Code and, when one
// input field is at fault, the Field. The HTTP layer maps Kinds to status
// codes in a single table (see shared/httpapi); domain code never thinks in
// status codes.
package errs

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error by what the caller should do about it.
type Kind int

const (
	Internal        Kind = iota // our fault; details never leave the process
	Invalid                     // bad input
	Unauthenticated             // no or bad credentials
	Forbidden                   // authenticated, but not allowed
	NotFound                    // absent, or belongs to another tenant
	Conflict                    // duplicate or stale state
	Gone                        // existed, but expired or used up
	Locked                      // account locked for a while
	RateLimited                 // too many requests; see RetryAfter
	Unavailable                 // a dependency is down; safe to retry
	TooLarge                    // the request body is over the limit
)

var kindNames = [...]string{
	Internal:        "internal",
	Invalid:         "invalid",
	Unauthenticated: "unauthenticated",
	Forbidden:       "forbidden",
	NotFound:        "not_found",
	Conflict:        "conflict",
	Gone:            "gone",
	Locked:          "locked",
	RateLimited:     "rate_limited",
	Unavailable:     "unavailable",
	TooLarge:        "too_large",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is a classified failure. Message is safe to show to the caller;
// Err (the cause) is for logs only.
type Error struct {
	Kind       Kind
	Code       string        // stable, snake_case: "mobile_taken"
	Message    string        // human text for the caller
	Field      string        // the input field at fault, if one is
	RetryAfter time.Duration // for RateLimited, Locked and Unavailable
	Err        error         // underlying cause, never sent to callers
}

func (e *Error) Error() string {
	msg := e.Code
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Field != "" {
		msg += " (field " + e.Field + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an error of kind k with a code and message.
func E(k Kind, code, format string, args ...any) *Error {
	return &Error{Kind: k, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalidf reports bad input in one field.
func Invalidf(field, code, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFoundf reports an absent object; it is also the answer for objects of
// another tenant, so that existence never leaks across tenants.
func NotFoundf(code, format string, args ...any) *Error {
	return E(NotFound, code, format, args...)
}

// RetrySoon is how long a caller is asked to wait after an Unavailable
// error that names no wait of its own.
const RetrySoon = time.Second

// Unavailablef reports a dependency that is busy or slow: nothing is
// wrong with the request, and the caller may send it again.
func Unavailablef(format string, args ...any) *Error {
	return &Error{Kind: Unavailable, Code: "unavailable", Message: fmt.Sprintf(format, args...), RetryAfter: RetrySoon}
}

// Wrap records a failure the caller cannot act on. The cause goes to logs;
// the caller sees only a generic message: an internal error, or, when the
// cause is transient (a throttled or failing AWS call, a deadline that
// passed), an Unavailable one that asks for a retry.
func Wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return classify(fmt.Errorf("%s: %w", what, err))
}

func classify(err error) *Error {
	if Transient(err) {
		e := Unavailablef("the service is busy; try again")
		e.Err = err
		return e
	}
	return &Error{Kind: Internal, Code: "internal", Message: "internal error", Err: err}
}

// KindOf returns the Kind of err: Unavailable for transient failures that
// carry none, Internal for other errors.
func KindOf(err error) Kind {
	return As(err).Kind
}

// Is reports whether err is an *Error with the given code.
func Is(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// As returns the *Error in err's chain, or one wrapping err: Unavailable
// when err is transient, Internal otherwise.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return classify(err)
}
