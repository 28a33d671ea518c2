package localstack

import (
	"reflect"
	"testing"
)

func mustRoutes(t *testing.T, keys ...string) []Route {
	t.Helper()
	var rs []Route
	for i, k := range keys {
		r, err := ParseRoute(k, "F"+string(rune('0'+i)))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestMatch(t *testing.T) {
	routes := mustRoutes(t,
		"GET /v1/health",                    // F0
		"GET /v1/members/{id}",              // F1
		"GET /v1/members/me",                // F2
		"ANY /v1/members/{id}",              // F3
		"GET /v1/{proxy+}",                  // F4
		"GET /v1/members/{id}/{rest+}",      // F5
		"POST /v1/conversations/{id}/read",  // F6
		"GET /v1/conversations/{cid}/items", // F7
		"ANY /{all+}",                       // F8
	)
	for _, tc := range []struct {
		method, path string
		want         string
		params       map[string]string
	}{
		{"GET", "/v1/health", "GET /v1/health", nil},
		{"GET", "/v1/members/me", "GET /v1/members/me", nil},
		{"GET", "/v1/members/42", "GET /v1/members/{id}", map[string]string{"id": "42"}},
		{"DELETE", "/v1/members/42", "ANY /v1/members/{id}", map[string]string{"id": "42"}},
		{"GET", "/v1/members/a%20b", "GET /v1/members/{id}", map[string]string{"id": "a b"}},
		{"GET", "/v1/members/42/x/y", "GET /v1/members/{id}/{rest+}", map[string]string{"id": "42", "rest": "x/y"}},
		{"GET", "/v1/other/thing", "GET /v1/{proxy+}", map[string]string{"proxy": "other/thing"}},
		{"GET", "/v1/health/extra", "GET /v1/{proxy+}", map[string]string{"proxy": "health/extra"}},
		{"POST", "/v1/conversations/c1/read", "POST /v1/conversations/{id}/read", map[string]string{"id": "c1"}},
		{"GET", "/v1/conversations/c1/read", "GET /v1/{proxy+}", map[string]string{"proxy": "conversations/c1/read"}},
		{"POST", "/v1/health", "ANY /{all+}", map[string]string{"all": "v1/health"}},
		{"GET", "/v1", "ANY /{all+}", map[string]string{"all": "v1"}},
		{"GET", "/v1/members/", "GET /v1/{proxy+}", map[string]string{"proxy": "members/"}},
	} {
		r, params, ok := Match(routes, tc.method, tc.path)
		if !ok || r.Key != tc.want || !reflect.DeepEqual(params, tc.params) {
			t.Errorf("Match(%s %s) = %q %v %v; want %q %v", tc.method, tc.path, r.Key, params, ok, tc.want, tc.params)
		}
	}

	narrow := mustRoutes(t, "GET /v1/health", "GET /v1/members/{id}", "GET /v1/files/{path+}")
	for _, tc := range []struct{ method, path string }{
		{"POST", "/v1/health"},
		{"GET", "/v1/health/"},
		{"GET", "/v1/members"},
		{"GET", "/v1/members/"},
		{"GET", "/v1/members/1/2"},
		{"GET", "/v1/files"},
		{"GET", "/v1/files/"},
		{"GET", "/"},
		{"GET", "x"},
	} {
		if r, _, ok := Match(narrow, tc.method, tc.path); ok {
			t.Errorf("Match(%s %s) = %q, want no match", tc.method, tc.path, r.Key)
		}
	}

	withDefault := append(narrow, mustRoutes(t, "$default")...)
	if r, _, ok := Match(withDefault, "PUT", "/anything"); !ok || r.Key != "$default" {
		t.Errorf("Match with $default = %q %v", r.Key, ok)
	}
	if r, _, _ := Match(withDefault, "GET", "/v1/health"); r.Key != "GET /v1/health" {
		t.Errorf("$default beat a route: %q", r.Key)
	}
}

func TestParseRoute(t *testing.T) {
	for _, key := range []string{
		"GET",
		"GET v1/health",
		"/v1/health",
		"GET /v1/{}",
		"GET /v1/{proxy+}/more",
		"GET /v1/a{id}",
	} {
		if _, err := ParseRoute(key, "F"); err == nil {
			t.Errorf("ParseRoute(%q) succeeded", key)
		}
	}
}
