package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"workbench/infra/template"
)

//go:embed transform.py
var transformScript string

// Transform returns the SAM template at path after the SAM transform, as
// JSON, by aws-sam-translator under python.
func Transform(python, path string) ([]byte, error) {
	cmd := exec.Command(python, "-c", transformScript, path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("SAM transform of %s (%s needs aws-sam-translator): %v\n%s", path, python, err, stderr.String())
	}
	return out, nil
}

// A Policy is one identity policy of a function's role, its intrinsics
// resolved in the template's own naming (see awscalls).
type Policy struct {
	Name     string   `json:"name"`
	Document Document `json:"document"`
	// Service marks a policy SAM adds for the Lambda service's own use of
	// the role (a dead-letter queue, an asynchronous invoke's
	// destination): no code of the function calls it, so its grants are
	// not expected to be used by a test.
	Service bool `json:"-"`
}

// ServiceSid starts the Sid of a statement in a function's own Policies
// that the Lambda service uses on the function's behalf, not its code: an
// event source mapping reading a stream, its on-failure destination. Such
// grants are evaluated like any other, but no test is expected to use them.
const ServiceSid = "LambdaService"

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document. Action, NotAction, Resource
// and NotResource are kept as lists.
type Statement struct {
	Sid         string   `json:"Sid,omitempty"`
	Effect      string   `json:"Effect"`
	Action      []string `json:"Action,omitempty"`
	NotAction   []string `json:"NotAction,omitempty"`
	Resource    []string `json:"Resource,omitempty"`
	NotResource []string `json:"NotResource,omitempty"`
	Condition   any      `json:"Condition,omitempty"`
}

// Role is what a function may do: its role's identity policies and the
// managed policies attached by ARN (AWS's own, which iamcheck reports but
// cannot read offline).
type Role struct {
	Function string
	RoleID   string
	Policies []Policy
	Managed  []string
}

// Roles returns the role of every function (AWS::Lambda::Function) of a
// transformed template, by function logical id.
func Roles(transformed []byte) (map[string]*Role, error) {
	tmpl, err := template.Parse(transformed)
	if err != nil {
		return nil, err
	}
	res := &template.Resolver{Template: tmpl}
	roles := map[string]*Role{}
	byRole := map[string]*Role{}
	for _, id := range tmpl.Order {
		r := tmpl.Resources[id]
		if r.Type != "AWS::Lambda::Function" {
			continue
		}
		var props struct {
			Role yaml.Node `yaml:"Role"`
		}
		if err := r.Properties.Decode(&props); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		fn, arg, ok := template.Intrinsic(&props.Role)
		roleID := ""
		if ok && fn == "Fn::GetAtt" && arg.Kind == yaml.SequenceNode && len(arg.Content) == 2 {
			roleID = arg.Content[0].Value
		}
		role, ok := tmpl.Resources[roleID]
		if !ok || role.Type != "AWS::IAM::Role" {
			return nil, fmt.Errorf("%s: its Role is not the ARN of a role of the template", id)
		}
		ro := &Role{Function: id, RoleID: roleID}
		if err := ro.addInline(res, role.Properties); err != nil {
			return nil, fmt.Errorf("%s: %w", roleID, err)
		}
		roles[id], byRole[roleID] = ro, ro
	}
	// Policies that attach themselves to roles.
	for _, id := range tmpl.Order {
		r := tmpl.Resources[id]
		if r.Type != "AWS::IAM::Policy" && r.Type != "AWS::IAM::ManagedPolicy" {
			continue
		}
		var props struct {
			PolicyDocument yaml.Node   `yaml:"PolicyDocument"`
			Roles          []yaml.Node `yaml:"Roles"`
		}
		if err := r.Properties.Decode(&props); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		for _, n := range props.Roles {
			if fn, arg, ok := template.Intrinsic(&n); ok && fn == "Ref" && byRole[arg.Value] != nil {
				doc, err := document(res, &props.PolicyDocument)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", id, err)
				}
				ro := byRole[arg.Value]
				ro.Policies = append(ro.Policies, Policy{Name: id, Document: doc})
			}
		}
	}
	return roles, nil
}

func (ro *Role) addInline(res *template.Resolver, props *yaml.Node) error {
	var p struct {
		Policies []struct {
			PolicyName     string    `yaml:"PolicyName"`
			PolicyDocument yaml.Node `yaml:"PolicyDocument"`
		} `yaml:"Policies"`
		ManagedPolicyArns []yaml.Node `yaml:"ManagedPolicyArns"`
	}
	if err := props.Decode(&p); err != nil {
		return err
	}
	for _, pol := range p.Policies {
		doc, err := document(res, &pol.PolicyDocument)
		if err != nil {
			return fmt.Errorf("policy %s: %w", pol.PolicyName, err)
		}
		// SAM names the function's own Policies <Role>Policy<N>.
		service := !strings.HasPrefix(pol.PolicyName, ro.RoleID+"Policy")
		ro.Policies = append(ro.Policies, Policy{Name: pol.PolicyName, Document: doc, Service: service})
	}
	for _, n := range p.ManagedPolicyArns {
		arn, err := res.String(&n)
		if err != nil {
			return fmt.Errorf("ManagedPolicyArns: %w", err)
		}
		ro.Managed = append(ro.Managed, arn)
	}
	return nil
}

func document(res *template.Resolver, n *yaml.Node) (Document, error) {
	var d struct {
		Version   string    `yaml:"Version"`
		Statement yaml.Node `yaml:"Statement"`
	}
	if err := n.Decode(&d); err != nil {
		return Document{}, err
	}
	doc := Document{Version: d.Version}
	if doc.Version == "" {
		doc.Version = "2012-10-17"
	}
	stmts := []*yaml.Node{&d.Statement}
	if d.Statement.Kind == yaml.SequenceNode {
		stmts = d.Statement.Content
	}
	for i, s := range stmts {
		st, err := statement(res, s)
		if err != nil {
			return Document{}, fmt.Errorf("statement %d: %w", i+1, err)
		}
		doc.Statement = append(doc.Statement, st)
	}
	return doc, nil
}

func statement(res *template.Resolver, n *yaml.Node) (Statement, error) {
	var s struct {
		Sid         string    `yaml:"Sid"`
		Effect      string    `yaml:"Effect"`
		Action      yaml.Node `yaml:"Action"`
		NotAction   yaml.Node `yaml:"NotAction"`
		Resource    yaml.Node `yaml:"Resource"`
		NotResource yaml.Node `yaml:"NotResource"`
		Condition   any       `yaml:"Condition"`
	}
	if err := n.Decode(&s); err != nil {
		return Statement{}, err
	}
	st := Statement{Sid: s.Sid, Effect: s.Effect, Condition: s.Condition}
	var err error
	for _, f := range []struct {
		in  *yaml.Node
		out *[]string
	}{{&s.Action, &st.Action}, {&s.NotAction, &st.NotAction}, {&s.Resource, &st.Resource}, {&s.NotResource, &st.NotResource}} {
		if *f.out, err = stringList(res, f.in); err != nil {
			return Statement{}, err
		}
	}
	return st, nil
}

// stringList resolves a string, an intrinsic or a list of them.
func stringList(res *template.Resolver, n *yaml.Node) ([]string, error) {
	if n.Kind == 0 {
		return nil, nil
	}
	elems := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		elems = n.Content
	}
	var out []string
	for _, e := range elems {
		v, err := res.String(cloudFormationRefs(res.Template, e))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// arnRefs are the resource types whose Ref is their ARN in CloudFormation.
// The local stack's resolver gives every Ref a name (the SDK takes either),
// so in a policy these Refs are rewritten to GetAtt Arn first.
var arnRefs = []string{template.TypeSecret, "AWS::SNS::Topic"}

func cloudFormationRefs(t *template.Template, n *yaml.Node) *yaml.Node {
	isARNRef := func(id string) bool {
		r, ok := t.Resources[id]
		return ok && slices.Contains(arnRefs, r.Type)
	}
	fn, arg, ok := template.Intrinsic(n)
	if !ok {
		return n
	}
	switch {
	case fn == "Ref" && isARNRef(arg.Value):
		return &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "Fn::GetAtt"},
			{Kind: yaml.SequenceNode, Content: []*yaml.Node{
				{Kind: yaml.ScalarNode, Value: arg.Value}, {Kind: yaml.ScalarNode, Value: "Arn"},
			}},
		}}
	case fn == "Fn::Sub" && arg.Kind == yaml.ScalarNode:
		text := arg.Value
		for id := range t.Resources {
			if isARNRef(id) {
				text = strings.ReplaceAll(text, "${"+id+"}", "${"+id+".Arn}")
			}
		}
		return &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "Fn::Sub"}, {Kind: yaml.ScalarNode, Value: text},
		}}
	}
	return n
}
