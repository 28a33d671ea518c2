package localstack

import (
	"fmt"
	"net/url"
	"strings"

	"workbench/infra/template"
)

// Route is an HttpApi route of a function.
type Route struct {
	Key      string // "GET /v1/things/{id}", or "$default"
	Function string // logical id

	method string   // upper case; "ANY" matches every method
	segs   []string // path segments; "{name}" and a final "{name+}" are variables
}

// ParseRoute parses a route key as API Gateway writes it.
func ParseRoute(key, function string) (Route, error) {
	r := Route{Key: key, Function: function}
	if key == "$default" {
		return r, nil
	}
	method, path, ok := strings.Cut(key, " ")
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		return r, fmt.Errorf("route %q is not METHOD /path", key)
	}
	r.method = strings.ToUpper(method)
	r.segs = strings.Split(path[1:], "/")
	for i, seg := range r.segs {
		name, isVar := variable(seg)
		switch {
		case isVar && name == "":
			return r, fmt.Errorf("route %q: empty path variable", key)
		case isVar && strings.HasSuffix(name, "+") && i != len(r.segs)-1:
			return r, fmt.Errorf("route %q: a greedy variable must end the path", key)
		case !isVar && strings.ContainsAny(seg, "{}"):
			return r, fmt.Errorf("route %q: a path variable must be a whole segment", key)
		}
	}
	return r, nil
}

// Routes returns the routes of every HttpApi event of the template.
func Routes(t *template.Template) ([]Route, error) {
	var routes []Route
	seen := map[string]string{}
	for _, fn := range t.Functions {
		for _, ev := range fn.HTTPEvents() {
			key := ev.RouteKey()
			if other, dup := seen[key]; dup {
				return nil, fmt.Errorf("localstack: route %q is served by both %s and %s", key, other, fn.LogicalID)
			}
			seen[key] = fn.LogicalID
			r, err := ParseRoute(key, fn.LogicalID)
			if err != nil {
				return nil, fmt.Errorf("localstack: %s event %s: %w", fn.LogicalID, ev.Name, err)
			}
			routes = append(routes, r)
		}
	}
	return routes, nil
}

// Match finds the route for a request as API Gateway does: of the routes
// that match, the most specific wins. Segment by segment from the left, a
// literal beats a {variable}, which beats a {greedy+} one; then an explicit
// method beats ANY; $default matches only when nothing else does. path is
// the escaped path; the returned path parameters are unescaped.
func Match(routes []Route, method, path string) (Route, map[string]string, bool) {
	if !strings.HasPrefix(path, "/") {
		return Route{}, nil, false
	}
	segs := strings.Split(path[1:], "/")
	var best *Route
	for i := range routes {
		r := &routes[i]
		if r.Key == "$default" || (r.method != "ANY" && r.method != method) || !r.matches(segs) {
			continue
		}
		if best == nil || r.moreSpecific(best) {
			best = r
		}
	}
	if best == nil {
		for _, r := range routes {
			if r.Key == "$default" {
				return r, nil, true
			}
		}
		return Route{}, nil, false
	}
	return *best, best.params(segs), true
}

func (r *Route) matches(segs []string) bool {
	for i, seg := range r.segs {
		name, isVar := variable(seg)
		if isVar && strings.HasSuffix(name, "+") {
			// Greedy: one segment or more, none of them empty at the start.
			return len(segs) > i && segs[i] != ""
		}
		if i >= len(segs) {
			return false
		}
		if isVar {
			if segs[i] == "" {
				return false
			}
		} else if seg != segs[i] {
			return false
		}
	}
	return len(segs) == len(r.segs)
}

// rank orders the kinds of segment by specificity.
func rank(seg string) int {
	name, isVar := variable(seg)
	switch {
	case !isVar:
		return 2
	case strings.HasSuffix(name, "+"):
		return 0
	}
	return 1
}

func (r *Route) moreSpecific(than *Route) bool {
	for i := 0; i < len(r.segs) && i < len(than.segs); i++ {
		if a, b := rank(r.segs[i]), rank(than.segs[i]); a != b {
			return a > b
		}
	}
	if len(r.segs) != len(than.segs) {
		return len(r.segs) > len(than.segs)
	}
	return r.method != "ANY" && than.method == "ANY"
}

func (r *Route) params(segs []string) map[string]string {
	var ps map[string]string
	for i, seg := range r.segs {
		name, isVar := variable(seg)
		if !isVar {
			continue
		}
		if ps == nil {
			ps = map[string]string{}
		}
		value := segs[i]
		if greedy, ok := strings.CutSuffix(name, "+"); ok {
			name, value = greedy, strings.Join(segs[i:], "/")
		}
		if v, err := url.PathUnescape(value); err == nil {
			value = v
		}
		ps[name] = value
	}
	return ps
}

// variable reports whether seg is "{name}" and returns name.
func variable(seg string) (string, bool) {
	if len(seg) >= 2 && seg[0] == '{' && seg[len(seg)-1] == '}' {
		return seg[1 : len(seg)-1], true
	}
	return "", false
}

// Allowed lists the methods that some route other than $default has for
// path (escaped), in a fixed order: what a 405's Allow header says.
func Allowed(routes []Route, path string) []string {
	var out []string
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		if r, _, ok := Match(routes, m, path); ok && r.Key != "$default" {
			out = append(out, m)
		}
	}
	return out
}
