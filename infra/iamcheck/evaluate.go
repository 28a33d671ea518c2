package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"workbench/infra/awscalls"
)

// topicProbe is a topic no function names: an action recorded on "*" (an
// SMS to a phone number, which has no ARN) must not reach it, or the grant
// that allows the SMS allows every topic too.
const topicProbe = "arn:aws:sns:us-east-1:123456789012:iamcheck-any-topic"

// Verdict is the evaluator's decision on one recorded request.
type Verdict struct {
	Function, Action, Resource string
	Operations                 []string // the API operations it was recorded in
	Decision                   string   // Allowed, ImplicitlyDenied, ExplicitlyDenied, Error
	Error                      string
}

// Grant is one Action × Resource of an Allow statement.
type Grant struct {
	Function, Policy string
	Statement        int // 1-based
	Action, Resource string
}

// Report is the outcome of a check.
type Report struct {
	Requests    []Verdict // every distinct (function, action, resource)
	Denied      []Verdict // including evaluator errors (an action that does not exist)
	Unknown     []string  // calls the check cannot evaluate
	Nonexistent []string  // granted actions that do not exist
	Reachable   []Verdict // topics reachable through an SMS grant
	Unused      []Grant
	Managed     map[string][]string // managed policy ARNs by function, not evaluated
}

// Failed reports whether anything is denied, unknown or wrong.
func (r *Report) Failed(unusedFails bool) bool {
	return len(r.Requests) == 0 || len(r.Denied) > 0 || len(r.Unknown) > 0 || len(r.Nonexistent) > 0 ||
		len(r.Reachable) > 0 || (unusedFails && len(r.Unused) > 0)
}

// Evaluator runs simulate.mjs.
type Evaluator struct {
	Node        string // the node binary
	Script      string // simulate.mjs
	NodeModules string // where @cloud-copilot/iam-simulate is installed
}

type simulation struct {
	Policies []Policy `json:"policies"`
	Action   string   `json:"action"`
	Resource string   `json:"resource"`
}

type simResult struct {
	Decision string `json:"decision"`
	Error    string `json:"error"`
	Allows   []struct {
		Policy      string   `json:"policy"`
		Statement   string   `json:"statement"`
		Actions     []string `json:"actions"`
		Resources   []string `json:"resources"`
		NotResource bool     `json:"notResource"`
	} `json:"allows"`
}

func (e Evaluator) run(sims []simulation, actions []string) ([]simResult, map[string]bool, error) {
	in, err := json.Marshal(map[string]any{"simulations": sims, "actions": actions})
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(e.Node, e.Script, e.NodeModules)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %v\n%s", e.Node, e.Script, err, stderr.String())
	}
	var res struct {
		Results []simResult     `json:"results"`
		Actions map[string]bool `json:"actions"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, nil, fmt.Errorf("simulate.mjs answered: %w", err)
	}
	if len(res.Results) != len(sims) {
		return nil, nil, fmt.Errorf("simulate.mjs answered %d results for %d simulations", len(res.Results), len(sims))
	}
	return res.Results, res.Actions, nil
}

type request struct{ function, action, resource string }

// Check evaluates every recorded call against its function's role.
func (e Evaluator) Check(roles map[string]*Role, calls []awscalls.Call) (*Report, error) {
	rep := &Report{Managed: map[string][]string{}}
	ops := map[request][]string{}
	var reqs []request
	for _, c := range calls {
		r := request{c.Function, c.Action, c.Resource}
		switch {
		case roles[c.Function] == nil:
			rep.Unknown = append(rep.Unknown, fmt.Sprintf("%s: %s in %s: no such function in the template", c.Function, c.Action, c.Operation))
			continue
		case c.Resource == "":
			rep.Unknown = append(rep.Unknown, fmt.Sprintf("%s: %s in %s: the recorder does not know its resource (teach infra/awscalls)", c.Function, c.Action, c.Operation))
			continue
		}
		if _, seen := ops[r]; !seen {
			reqs = append(reqs, r)
		}
		if !slices.Contains(ops[r], c.Operation) {
			ops[r] = append(ops[r], c.Operation)
		}
	}

	var sims []simulation
	probes := map[int]request{} // simulation index → the SMS request it probes for
	for _, r := range reqs {
		pols := roles[r.function].Policies
		sims = append(sims, simulation{Policies: pols, Action: r.action, Resource: r.resource})
		if r.action == "sns:Publish" && r.resource == "*" {
			probes[len(sims)] = r
			sims = append(sims, simulation{Policies: pols, Action: r.action, Resource: topicProbe})
		}
	}
	grants, actions := grantsOf(roles)
	for _, r := range reqs {
		if !slices.Contains(actions, r.action) {
			actions = append(actions, r.action)
		}
	}
	slices.Sort(actions)

	results, exists, err := e.run(sims, actions)
	if err != nil {
		return nil, err
	}
	used := map[Grant]bool{}
	i := 0
	for _, r := range reqs {
		res := results[i]
		v := Verdict{Function: r.function, Action: r.action, Resource: r.resource, Operations: ops[r], Decision: res.Decision, Error: res.Error}
		rep.Requests = append(rep.Requests, v)
		if v.Decision != "Allowed" {
			rep.Denied = append(rep.Denied, v)
		}
		markUsed(used, roles[r.function], res)
		i++
		if probe, ok := probes[i]; ok {
			if d := results[i].Decision; d == "Allowed" || d == "Error" {
				rep.Reachable = append(rep.Reachable, Verdict{Function: probe.function, Action: probe.action, Resource: topicProbe, Decision: d, Error: results[i].Error})
			}
			i++
		}
	}
	for _, g := range grants {
		if !used[g] {
			rep.Unused = append(rep.Unused, g)
		}
	}
	for _, a := range actions {
		if !exists[a] && !strings.Contains(a, "*") && !strings.Contains(a, "?") {
			rep.Nonexistent = append(rep.Nonexistent, a)
		}
	}
	for fn, ro := range roles {
		if len(ro.Managed) > 0 {
			rep.Managed[fn] = ro.Managed
		}
	}
	return rep, nil
}

// grantsOf lists every Action × Resource of the Allow statements of the
// roles' own policies (not SAM's for the Lambda service), and the actions
// every policy names.
func grantsOf(roles map[string]*Role) ([]Grant, []string) {
	var grants []Grant
	var actions []string
	for _, fn := range sortedKeys(roles) {
		for _, p := range roles[fn].Policies {
			for i, s := range p.Document.Statement {
				for _, a := range s.Action {
					if !slices.Contains(actions, a) {
						actions = append(actions, a)
					}
				}
				if s.Effect != "Allow" || p.Service || strings.HasPrefix(s.Sid, ServiceSid) {
					continue
				}
				resources := s.Resource
				if len(s.NotResource) > 0 {
					resources = []string{notResource(s.NotResource)}
				}
				for _, a := range s.Action {
					for _, r := range resources {
						grants = append(grants, Grant{Function: fn, Policy: p.Name, Statement: i + 1, Action: a, Resource: r})
					}
				}
			}
		}
	}
	return grants, actions
}

func notResource(rs []string) string { return "NotResource " + strings.Join(rs, ",") }

// markUsed marks the grants that the evaluator says allowed a request.
func markUsed(used map[Grant]bool, ro *Role, res simResult) {
	if res.Decision != "Allowed" {
		return
	}
	for _, a := range res.Allows {
		idx := statementIndex(ro, a.Policy, a.Statement)
		if idx == 0 {
			continue
		}
		resources := a.Resources
		if a.NotResource {
			for _, p := range ro.Policies {
				if p.Name == a.Policy {
					resources = []string{notResource(p.Document.Statement[idx-1].NotResource)}
				}
			}
		}
		for _, act := range a.Actions {
			for _, r := range resources {
				used[Grant{Function: ro.Function, Policy: a.Policy, Statement: idx, Action: act, Resource: r}] = true
			}
		}
	}
}

// statementIndex finds the statement the evaluator identifies by its Sid
// or, without one, by its 1-based position.
func statementIndex(ro *Role, policy, id string) int {
	for _, p := range ro.Policies {
		if p.Name != policy {
			continue
		}
		for i, s := range p.Document.Statement {
			if s.Sid != "" && s.Sid == id {
				return i + 1
			}
		}
		if n, err := strconv.Atoi(id); err == nil && n >= 1 && n <= len(p.Document.Statement) {
			return n
		}
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
