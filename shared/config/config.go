// Package config reads a function's settings from its environment.
//
// Settings come through a Source rather than os.Getenv so that the local
// stack, which runs every function in one process, can give each function
// exactly the environment its template entry declares. Problems are
// collected and reported together, so a misconfigured function fails fast at
// cold start with one message naming every bad setting.
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Source looks up one setting; "" means unset.
type Source func(name string) string

// Env is the process environment.
func Env() Source { return os.Getenv }

// inLambda reports whether src is the environment of a Lambda function
// (AWS_LAMBDA_FUNCTION_NAME is set). It is the one place that asks, for
// LocalOnly: every other setting means the same in Lambda and off it.
func inLambda(src Source) bool { return strings.TrimSpace(src("AWS_LAMBDA_FUNCTION_NAME")) != "" }

// Map is a fixed environment, for tests and the local stack.
func Map(m map[string]string) Source { return func(name string) string { return m[name] } }

// Reader reads typed settings and remembers what was wrong.
type Reader struct {
	src  Source
	errs []error
}

func NewReader(src Source) *Reader { return &Reader{src: src} }

// Required returns the setting, noting an error when it is unset.
func (r *Reader) Required(name string) string {
	v := strings.TrimSpace(r.src(name))
	if v == "" {
		r.errs = append(r.errs, fmt.Errorf("%s is required", name))
	}
	return v
}

// String returns the setting or def when unset.
func (r *Reader) String(name, def string) string {
	if v := strings.TrimSpace(r.src(name)); v != "" {
		return v
	}
	return def
}

// LocalOnly returns a setting that only the local stack and tests may give
// (a test CA, say), or "" when unset; set in Lambda, it is an error.
func (r *Reader) LocalOnly(name string) string {
	v := strings.TrimSpace(r.src(name))
	if v != "" && inLambda(r.src) {
		r.errs = append(r.errs, fmt.Errorf("%s is for the local stack and tests: it cannot be set in Lambda", name))
	}
	return v
}

// Int returns the setting as an int, or def when unset.
func (r *Reader) Int(name string, def int) int {
	v := strings.TrimSpace(r.src(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s must be a whole number, not %q", name, v))
		return def
	}
	return n
}

// Duration returns the setting as a time.Duration ("15m"), or def when unset.
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(r.src(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s must be a duration such as 15m, not %q", name, v))
		return def
	}
	return d
}

// Bool returns the setting as a bool, or def when unset.
func (r *Reader) Bool(name string, def bool) bool {
	v := strings.TrimSpace(r.src(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s must be true or false, not %q", name, v))
		return def
	}
	return b
}

// Err reports every problem met so far, or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }
