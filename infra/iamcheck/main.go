// Command iamcheck proves the template's IAM policies against what the
// functions really do: it evaluates every AWS call that the tests recorded
// (infra/awscalls, under $WORKBENCH_AWS_CALLS) against the policies of the
// calling function's role, taken from template.yaml after the SAM
// transform, with a real IAM policy evaluator (@cloud-copilot/iam-simulate,
// which also knows which actions exist). `make test` runs it after the
// tests:
//
//	go run ./infra/iamcheck -calls .local/awscalls
//
// It fails when a call is denied, an action does not exist, a call cannot
// be evaluated, an SMS grant reaches SNS topics, or (with -unused=fail) a
// grant is used by no test; it lists the unused grants in any case.
//
// The evaluator is AGPL-3.0: a test-time tool installed into
// .local/iamcheck by `make test`, never part of a function.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"workbench/infra/awscalls"
)

func main() {
	var o options
	flag.StringVar(&o.template, "template", "template.yaml", "the SAM template")
	flag.StringVar(&o.calls, "calls", os.Getenv(awscalls.Env), "directory of recorded calls (*.jsonl)")
	flag.StringVar(&o.python, "python", "python3", "python with aws-sam-translator")
	flag.StringVar(&o.node, "node", "node", "node")
	flag.StringVar(&o.modules, "node-modules", ".local/iamcheck/node_modules", "where the evaluator is installed")
	flag.StringVar(&o.unused, "unused", "report", "what an unused grant does: report or fail")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "iamcheck:", err)
		os.Exit(1)
	}
}

type options struct {
	template, calls, python, node, modules, unused string
}

func run(o options, out io.Writer) error {
	if o.calls == "" {
		return errors.New("no recorded calls: give -calls or set " + awscalls.Env)
	}
	if o.unused != "report" && o.unused != "fail" {
		return fmt.Errorf("-unused is report or fail, not %q", o.unused)
	}
	transformed, err := Transform(o.python, o.template)
	if err != nil {
		return err
	}
	roles, err := Roles(transformed)
	if err != nil {
		return err
	}
	calls, err := awscalls.ReadDir(o.calls)
	if err != nil {
		return err
	}
	if len(calls) == 0 {
		return fmt.Errorf("no calls recorded in %s: run the tests with %s set", o.calls, awscalls.Env)
	}
	ev := Evaluator{Node: o.node, Script: scriptPath(), NodeModules: o.modules}
	rep, err := ev.Check(roles, calls)
	if err != nil {
		return err
	}
	rep.Print(out)
	if rep.Failed(o.unused == "fail") {
		return errors.New("the template's policies do not match what the functions do (see above)")
	}
	return nil
}

// scriptPath finds simulate.mjs beside this package's sources, from the
// module root (go run ./infra/iamcheck) or from the package directory (go
// test).
func scriptPath() string {
	for _, p := range []string{"infra/iamcheck/simulate.mjs", "simulate.mjs"} {
		if _, err := os.Stat(p); err == nil {
			abs, _ := filepath.Abs(p)
			return abs
		}
	}
	return "infra/iamcheck/simulate.mjs"
}

// Print writes the report.
func (r *Report) Print(w io.Writer) {
	allowed := len(r.Requests) - len(r.Denied)
	fmt.Fprintf(w, "iamcheck: %d distinct (function, action, resource) recorded: %d allowed, %d denied\n",
		len(r.Requests), allowed, len(r.Denied))
	section(w, "DENIED", len(r.Denied), func() {
		for _, v := range r.Denied {
			why := v.Decision
			if v.Error != "" {
				why += " " + v.Error
			}
			fmt.Fprintf(w, "  %s: %s on %s (%s): %s\n", v.Function, v.Action, v.Resource, strings.Join(v.Operations, ", "), why)
		}
	})
	section(w, "NOT EVALUATED", len(r.Unknown), func() {
		for _, u := range r.Unknown {
			fmt.Fprintf(w, "  %s\n", u)
		}
	})
	section(w, "GRANTED ACTIONS THAT DO NOT EXIST", len(r.Nonexistent), func() {
		for _, a := range r.Nonexistent {
			fmt.Fprintf(w, "  %s\n", a)
		}
	})
	section(w, "SMS GRANTS THAT ALSO REACH TOPICS", len(r.Reachable), func() {
		for _, v := range r.Reachable {
			fmt.Fprintf(w, "  %s: %s on %s is %s (scope SMS with NotResource: arn:aws:sns:*:*:*)\n", v.Function, v.Action, v.Resource, v.Decision)
		}
	})
	section(w, "GRANTS NO TEST USES", len(r.Unused), func() {
		for _, g := range r.Unused {
			fmt.Fprintf(w, "  %s: %s on %s (%s statement %d)\n", g.Function, g.Action, g.Resource, g.Policy, g.Statement)
		}
	})
	if len(r.Managed) > 0 {
		var fns []string
		for _, fn := range sortedKeys(r.Managed) {
			fns = append(fns, fmt.Sprintf("%s (%s)", fn, strings.Join(r.Managed[fn], ", ")))
		}
		fmt.Fprintf(w, "managed policies, not evaluated (the Lambda service's own, such as logging): %d functions\n", len(fns))
	}
}

func section(w io.Writer, title string, n int, body func()) {
	if n == 0 {
		fmt.Fprintf(w, "%s: none\n", strings.ToLower(title))
		return
	}
	fmt.Fprintf(w, "%s: %d\n", title, n)
	body()
}
