package stack_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/middleware"

	"workbench/infra/stacktest"
	"workbench/infra/template"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/stack"
)

func parseTemplate(t *testing.T) *template.Template {
	t.Helper()
	tmpl, err := template.ParseFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// Every functions/<dir> is built by exactly one template function (through
// its Makefile build target) and every template function has one directory
// and one builder in stack.Functions.
func TestFunctionsDirectoriesTemplateAndBuildersAgree(t *testing.T) {
	tmpl := parseTemplate(t)
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]string{} // LogicalId → functions/<dir>
	for _, m := range regexp.MustCompile(`(?m)^build-(\w+):\s*;\s*\$\(call lambda,([\w-]+)\)`).FindAllStringSubmatch(string(makefile), -1) {
		targets[m[1]] = m[2]
	}
	listed := map[string]string{} // FUNCTIONS list of the Makefile
	for _, m := range regexp.MustCompile(`(?m)^\t(\w+Function)=([\w-]+)`).FindAllStringSubmatch(string(makefile), -1) {
		listed[m[1]] = m[2]
	}
	dirs, err := filepath.Glob("../../functions/*/main.go")
	if err != nil {
		t.Fatal(err)
	}
	built := map[string]string{}
	for _, fn := range tmpl.Functions {
		dir, ok := targets[fn.LogicalID]
		if !ok {
			t.Errorf("%s has no build-%s target in the Makefile", fn.LogicalID, fn.LogicalID)
			continue
		}
		if listed[fn.LogicalID] != dir {
			t.Errorf("%s is %q in the Makefile's FUNCTIONS, want %q", fn.LogicalID, listed[fn.LogicalID], dir)
		}
		if other, dup := built[dir]; dup {
			t.Errorf("functions/%s is built by both %s and %s", dir, other, fn.LogicalID)
		}
		built[dir] = fn.LogicalID
		if _, ok := stack.Functions[fn.LogicalID]; !ok {
			t.Errorf("%s has no builder in stack.Functions", fn.LogicalID)
		}
		if fn.Runtime != "provided.al2023" || strings.Join(fn.Architectures, ",") != "arm64" ||
			fn.Handler != "bootstrap" || fn.CodeURI != "." || fn.BuildMethod != "makefile" {
			t.Errorf("%s: runtime %q, architectures %v, handler %q, CodeUri %q, BuildMethod %q; want provided.al2023, [arm64], bootstrap, ., makefile",
				fn.LogicalID, fn.Runtime, fn.Architectures, fn.Handler, fn.CodeURI, fn.BuildMethod)
		}
	}
	for _, path := range dirs {
		dir := filepath.Base(filepath.Dir(path))
		if _, ok := built[dir]; !ok {
			t.Errorf("functions/%s is built by no template function", dir)
		}
	}
	for id := range stack.Functions {
		if _, ok := tmpl.Function(id); !ok {
			t.Errorf("stack.Functions has %s, which template.yaml does not declare", id)
		}
	}
}

// Every route the template declares reaches a handler of its function: the
// answer is never the gateway's or the function router's route_not_found.
func TestEveryTemplateRouteIsServed(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tmpl := parseTemplate(t)
	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, fn := range tmpl.Functions {
		for _, ev := range fn.HTTPEvents() {
			path := param.ReplaceAllString(ev.Path, "x0")
			status, body, _ := st.Do(t, ev.Method, path, "", nil)
			var e struct{ Error struct{ Code string } }
			_ = json.Unmarshal(body, &e) // any answer but these will do, JSON or not
			if e.Error.Code == "route_not_found" || e.Error.Code == "method_not_allowed" || status >= 500 {
				t.Errorf("%s (%s): %d %s", ev.RouteKey(), fn.LogicalID, status, body)
			}
		}
	}
}

// recorder is a settings source that remembers what a builder read.
type recorder struct {
	mu   sync.Mutex
	env  map[string]string
	read map[string]bool
}

func (r *recorder) get(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.read[name] = true
	return r.env[name]
}

// Every table a function's code reads from its settings is declared in its
// environment, and its policies allow no table its environment does not
// name. Whether each call is allowed, action by action, is proven by
// infra/iamcheck, which evaluates every AWS call the tests record against
// the function's policies (`make test`); a function may name a table it
// calls only in some configurations (MarketplaceFunction's directory, read
// by in-process delivery off Lambda), so naming is not calling.
func TestFunctionsTouchOnlyTheTablesTheirPoliciesAllow(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tmpl := parseTemplate(t)
	tableIDs := map[string]bool{}
	for _, tb := range tmpl.Tables {
		tableIDs[tb.LogicalID] = true
	}
	for _, fn := range tmpl.Functions {
		declared := map[string]string{} // setting → table logical id
		for name, node := range fn.Environment {
			if f, arg, ok := template.Intrinsic(node); ok && f == "Ref" && tableIDs[arg.Value] {
				declared[name] = arg.Value
			}
		}
		allowed := map[string]bool{}
		for _, id := range fn.PolicyTables() {
			allowed[id] = true
		}

		rec := &recorder{env: st.Env(fn.LogicalID), read: map[string]bool{}}
		env, err := cloud.Load(context.Background(), config.Source(rec.get))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stack.Functions[fn.LogicalID](context.Background(), env); err != nil {
			t.Errorf("%s does not build from its template environment: %v", fn.LogicalID, err)
			continue
		}
		var used []string
		for name := range rec.read {
			if strings.HasSuffix(name, "_TABLE") {
				table, ok := declared[name]
				if !ok {
					t.Errorf("%s reads %s, which its template environment does not set to a table", fn.LogicalID, name)
					continue
				}
				used = append(used, table)
			}
		}
		sort.Strings(used)
		for table := range allowed {
			found := false
			for _, u := range used {
				found = found || u == table
			}
			if !found {
				t.Errorf("%s's policies allow %s, which its code never uses (used: %v)", fn.LogicalID, table, used)
			}
		}
	}
}

// The cold-start budget, counted rather than timed (make coldstart times
// it): building a function makes no DynamoDB or SNS call, and waits on
// Secrets Manager once at most, for all of its secrets together.
func TestBuildersWaitOnAWSOnce(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tmpl := parseTemplate(t)
	for _, fn := range tmpl.Functions {
		var mu sync.Mutex
		calls := map[string]int{} // service/operation → calls
		count := awsconfig.WithAPIOptions([]func(*middleware.Stack) error{func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("count", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				mu.Lock()
				calls[middleware.GetServiceID(ctx)+"/"+middleware.GetOperationName(ctx)]++
				mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
		}})
		env, err := cloud.Load(context.Background(), config.Map(st.Env(fn.LogicalID)), count)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stack.Functions[fn.LogicalID](context.Background(), env); err != nil {
			t.Errorf("%s does not build: %v", fn.LogicalID, err)
			continue
		}
		secrets := 0
		for op, n := range calls {
			if op != "Secrets Manager/GetSecretValue" {
				t.Errorf("%s calls %s %d times at cold start; only secrets may be read", fn.LogicalID, op, n)
			}
			secrets += n
		}
		if trips := env.SecretTrips(); trips > 1 || (secrets > 0) != (trips == 1) {
			t.Errorf("%s waits on Secrets Manager %d times for %d secrets; read them all with one env.Prefetch", fn.LogicalID, trips, secrets)
		}
	}
}
