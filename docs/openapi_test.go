// Package docs holds the API description; its test keeps it equal to the
// routes template.yaml declares.
package docs

import (
	"context"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"workbench/infra/template"
)

func TestOpenAPIDescribesExactlyTheTemplateRoutes(t *testing.T) {
	data, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi version %q, want 3.1.x", doc.OpenAPI)
	}
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options":
			default:
				continue // parameters, summary, ...
			}
			key := strings.ToUpper(method) + " " + path
			described[key] = true
			if o, ok := op.(map[string]any); !ok || o["responses"] == nil {
				t.Errorf("%s has no responses", key)
			}
		}
	}

	tmpl, err := template.ParseFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, fn := range tmpl.Functions {
		for _, ev := range fn.HTTPEvents() {
			declared[ev.RouteKey()] = true
		}
	}
	if len(declared) == 0 {
		t.Fatal("the template declares no routes")
	}
	for _, k := range sorted(declared) {
		if !described[k] {
			t.Errorf("template route %s is missing from docs/openapi.yaml", k)
		}
	}
	for _, k := range sorted(described) {
		if !declared[k] {
			t.Errorf("docs/openapi.yaml describes %s, which no function of template.yaml serves", k)
		}
	}
}

func sorted(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestOpenAPIIsValid checks the document with a real OpenAPI validator: a
// schema written as a quoted string, or a description whose unquoted comma
// splits a flow mapping, loads as YAML but is no OpenAPI.
func TestOpenAPIIsValid(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile("openapi.yaml")
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
}
