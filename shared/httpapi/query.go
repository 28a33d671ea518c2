package httpapi

import (
	"strings"
	"time"
)

// Period reads the inclusive time range of a list's query: from and to,
// each an RFC 3339 time or absent (zero).
func Period(q map[string][]string) (from, to time.Time, err error) {
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := QueryValue(q, p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return from, to, InvalidQuery(p.name, "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", p.name)
			}
			*p.dst = t.UTC()
		}
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return from, to, InvalidQuery("to", "to must not be before from")
	}
	return from, to, nil
}

// Limit reads a list's page size: limit, 1 to max, def when absent.
func Limit(q map[string][]string, def, max int) (int, error) {
	v := QueryValue(q, "limit")
	if v == "" {
		return def, nil
	}
	n := 0
	for _, r := range v {
		if r < '0' || r > '9' || n > max {
			return 0, InvalidQuery("limit", "limit must be a number from 1 to %d", max)
		}
		n = n*10 + int(r-'0')
	}
	if n < 1 || n > max {
		return 0, InvalidQuery("limit", "limit must be a number from 1 to %d", max)
	}
	return n, nil
}

// QueryValue is the first value of a query parameter, trimmed.
func QueryValue(q map[string][]string, name string) string {
	if v := q[name]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}
