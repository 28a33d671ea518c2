package stacktest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"workbench/infra/localstack"
)

// A Contract checks responses against docs/openapi.yaml: every response a
// handler gives must have a status its operation documents (or one the
// document declares for every operation) and a body of the documented
// schema. Do checks every response it gets, so each integration test also
// checks the document.
type Contract struct {
	doc    *openapi3.T
	routes []localstack.Route // Key "METHOD /path" as in the document
	// common holds the responses the document's x-every-operation extension
	// gives every operation (bad input, an unknown method, a body too
	// large, a timeout): answers of the shared HTTP layer, not of one
	// operation.
	common map[string]*openapi3.ResponseRef
}

// commonExtension is the top-level extension of docs/openapi.yaml that
// lists, by status, the responses every operation may give.
const commonExtension = "x-every-operation"

// LoadContract reads and validates the OpenAPI document at path.
func LoadContract(path string) (*Contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	c := &Contract{doc: doc, common: map[string]*openapi3.ResponseRef{}}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			r, err := localstack.ParseRoute(method+" "+path, "")
			if err != nil {
				return nil, err
			}
			c.routes = append(c.routes, r)
		}
	}
	if raw, ok := doc.Extensions[commonExtension].(map[string]any); ok {
		for status, v := range raw {
			ref, _ := v.(map[string]any)["$ref"].(string)
			name, ok := strings.CutPrefix(ref, "#/components/responses/")
			if !ok || doc.Components.Responses[name] == nil {
				return nil, fmt.Errorf("%s %s: %q is not a response of components", commonExtension, status, ref)
			}
			c.common[status] = doc.Components.Responses[name]
		}
	}
	return c, nil
}

// Check returns what is wrong with a response to method and target (a path
// with its query), or nil if the document allows it. Local-only routes
// (/_local/) are not part of the contract.
func (c *Contract) Check(method, target string, status int, header http.Header, body []byte) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	if strings.HasPrefix(u.Path, "/_local/") {
		return nil
	}
	route, params, ok := localstack.Match(c.routes, method, u.EscapedPath())
	common := c.common[fmt.Sprint(status)]
	if !ok {
		if common != nil && c.knownPath(u.EscapedPath()) {
			return c.validate(c.commonRoute(method, u.Path, status), u, nil, status, header, body)
		}
		if status == http.StatusNotFound {
			return nil // a route the API does not have: the gateway's 404
		}
		return fmt.Errorf("%s %s is not in docs/openapi.yaml, yet it answered %d", method, u.Path, status)
	}
	_, path, _ := strings.Cut(route.Key, " ")
	item := c.doc.Paths.Value(path)
	r := &routers.Route{Spec: c.doc, Path: path, PathItem: item, Method: method, Operation: item.GetOperation(method)}
	if r.Operation.Responses.Status(status) == nil && common != nil {
		r = c.commonRoute(method, u.Path, status)
	}
	return c.validate(r, u, params, status, header, body)
}

// knownPath reports whether some operation of the document has path, by
// any method.
func (c *Contract) knownPath(path string) bool {
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if _, _, ok := localstack.Match(c.routes, m, path); ok {
			return true
		}
	}
	return false
}

// commonRoute is an operation whose one response is the x-every-operation
// one for status.
func (c *Contract) commonRoute(method, path string, status int) *routers.Route {
	op := openapi3.NewOperation()
	op.Responses = openapi3.NewResponses()
	op.Responses.Set(fmt.Sprint(status), c.common[fmt.Sprint(status)])
	return &routers.Route{Spec: c.doc, Path: path, Method: method, Operation: op}
}

func (c *Contract) validate(r *routers.Route, u *url.URL, params map[string]string, status int, header http.Header, body []byte) error {
	req, _ := http.NewRequest(r.Method, u.String(), nil)
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: r},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s answered %d, which docs/openapi.yaml does not allow (%s %s or %s): %v\nbody: %.600s",
			r.Method, u.Path, status, r.Method, r.Path, commonExtension, err, body)
	}
	return nil
}

var (
	contractOnce sync.Once
	contract     *Contract
	contractErr  error
)

// sharedContract is the contract of the module's docs/openapi.yaml, loaded
// once per test binary.
func sharedContract() (*Contract, error) {
	contractOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			contractErr = err
			return
		}
		contract, contractErr = LoadContract(filepath.Join(root, "docs", "openapi.yaml"))
	})
	return contract, contractErr
}

// CheckResponse fails t (without stopping it) when a response to method
// and target (path and query) breaks docs/openapi.yaml. Do calls it on
// every response; a harness with an HTTP client of its own calls it too.
func CheckResponse(t testing.TB, method, target string, status int, header http.Header, body []byte) {
	t.Helper()
	c, err := sharedContract()
	if err != nil {
		t.Errorf("stacktest: docs/openapi.yaml: %v", err)
		return
	}
	if err := c.Check(method, target, status, header, body); err != nil {
		t.Errorf("stacktest: contract: %v", err)
	}
}
