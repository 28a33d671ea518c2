package template

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Intrinsic reports whether n calls a CloudFormation intrinsic function,
// written either in short form (!Ref X) or long form ({Ref: X}). It returns
// the function's long name ("Ref", "Fn::GetAtt", "Fn::Sub", ...) and its
// argument.
func Intrinsic(n *yaml.Node) (fn string, arg *yaml.Node, ok bool) {
	n = deref(n)
	if n == nil {
		return "", nil, false
	}
	if isShortForm(n) {
		name := strings.TrimPrefix(n.Tag, "!")
		if name != "Ref" && name != "Condition" {
			name = "Fn::" + name
		}
		// The argument is the node itself without the tag.
		a := *n
		a.Tag = ""
		a.Style &^= yaml.TaggedStyle
		return name, &a, true
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
		key := n.Content[0].Value
		if key == "Ref" || key == "Condition" || strings.HasPrefix(key, "Fn::") {
			return key, deref(n.Content[1]), true
		}
	}
	return "", nil, false
}

// isShortForm reports whether n carries a short-form intrinsic tag such as
// !Ref; "!!str" and friends are YAML's own tags.
func isShortForm(n *yaml.Node) bool {
	return len(n.Tag) > 1 && n.Tag[0] == '!' && n.Tag[1] != '!'
}

// reference is a resource or parameter that a value depends on: Attr is
// empty for a Ref.
type reference struct {
	LogicalID, Attr string
}

// references returns every Ref, GetAtt and ${...} of a Sub within n.
func references(n *yaml.Node) []reference {
	var refs []reference
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		n = deref(n)
		if n == nil {
			return
		}
		if fn, arg, ok := Intrinsic(n); ok {
			switch fn {
			case "Ref":
				refs = append(refs, reference{LogicalID: arg.Value})
				return
			case "Fn::GetAtt":
				if id, attr, err := getAttArgs(arg); err == nil {
					refs = append(refs, reference{id, attr})
				}
				return
			case "Fn::Sub":
				text, vars := arg, (*yaml.Node)(nil)
				if arg.Kind == yaml.SequenceNode && len(arg.Content) == 2 {
					text, vars = deref(arg.Content[0]), deref(arg.Content[1])
				}
				_, _ = substitute(text.Value, func(name string) (string, error) {
					if field(vars, name) == nil {
						id, attr, _ := strings.Cut(name, ".")
						refs = append(refs, reference{id, attr})
					}
					return "", nil
				})
				walk(vars)
				return
			}
			walk(arg)
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return refs
}

// getAttArgs reads the argument of Fn::GetAtt: "X.Attr" or [X, Attr].
func getAttArgs(arg *yaml.Node) (id, attr string, err error) {
	switch {
	case arg.Kind == yaml.ScalarNode:
		id, attr, _ = strings.Cut(arg.Value, ".")
	case arg.Kind == yaml.SequenceNode && len(arg.Content) == 2:
		id, attr = scalar(arg.Content[0]), scalar(arg.Content[1])
	}
	if id == "" || attr == "" {
		return "", "", fmt.Errorf("Fn::GetAtt wants LogicalId.Attribute")
	}
	return id, attr, nil
}

// substitute replaces each ${name} of text by lookup(name); ${!name} stands
// for the literal ${name}.
func substitute(text string, lookup func(name string) (string, error)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(text, "${")
		if i < 0 {
			b.WriteString(text)
			return b.String(), nil
		}
		j := strings.IndexByte(text[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("Fn::Sub: unclosed ${ in %q", text)
		}
		b.WriteString(text[:i])
		name := text[i+2 : i+j]
		if lit, ok := strings.CutPrefix(name, "!"); ok {
			b.WriteString("${" + lit + "}")
		} else {
			v, err := lookup(strings.TrimSpace(name))
			if err != nil {
				return "", err
			}
			b.WriteString(v)
		}
		text = text[i+j+1:]
	}
}

// A Resolver gives intrinsic values their local meaning.
type Resolver struct {
	Template *Template
	// Region and AccountID appear in ARNs and answer the pseudo parameters;
	// empty means us-east-1 and 123456789012 (moto's default account).
	Region    string
	AccountID string
	// StackName answers AWS::StackName; empty means "local".
	StackName string
	// Parameters override the template parameters' defaults.
	Parameters map[string]string
	// Name returns the physical name of a resource: what a Ref of it
	// yields and what its ARN ends with. Nil means the logical id.
	Name func(logicalID string) string
}

// String resolves n to text: a plain scalar is its own value; Ref, GetAtt,
// Sub and Join are evaluated.
func (r *Resolver) String(n *yaml.Node) (string, error) {
	n = deref(n)
	if n == nil {
		return "", fmt.Errorf("no value")
	}
	fn, arg, ok := Intrinsic(n)
	if !ok {
		if n.Kind != yaml.ScalarNode {
			return "", fmt.Errorf("line %d: not a string", n.Line)
		}
		return n.Value, nil
	}
	switch fn {
	case "Ref":
		if arg.Kind != yaml.ScalarNode {
			return "", fmt.Errorf("line %d: Ref wants a name", n.Line)
		}
		return r.Ref(arg.Value)
	case "Fn::GetAtt":
		id, attr, err := getAttArgs(arg)
		if err != nil {
			return "", fmt.Errorf("line %d: %w", n.Line, err)
		}
		return r.GetAtt(id, attr)
	case "Fn::Sub":
		return r.sub(arg)
	case "Fn::Join":
		return r.join(arg)
	}
	return "", fmt.Errorf("line %d: %s is not supported by the local stack", n.Line, fn)
}

// Ref resolves a Ref: a parameter's value, a pseudo parameter, or a
// resource's physical name.
func (r *Resolver) Ref(name string) (string, error) {
	switch name {
	case "AWS::Region":
		return r.region(), nil
	case "AWS::AccountId":
		return r.account(), nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::StackName":
		return r.stackName(), nil
	case "AWS::StackId":
		return fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/local", r.region(), r.account(), r.stackName()), nil
	}
	if v, ok := r.Parameters[name]; ok {
		return v, nil
	}
	if p, ok := r.Template.Parameters[name]; ok {
		if !p.HasDefault {
			return "", fmt.Errorf("parameter %s has no Default and no value was given", name)
		}
		return p.Default, nil
	}
	if _, ok := r.Template.Resources[name]; ok {
		return r.name(name), nil
	}
	return "", fmt.Errorf("Ref %s: no such parameter or resource", name)
}

// GetAtt resolves Fn::GetAtt. Only Arn (of any resource) and a few names
// have local meanings.
func (r *Resolver) GetAtt(logicalID, attr string) (string, error) {
	res, ok := r.Template.Resources[logicalID]
	if !ok {
		return "", fmt.Errorf("Fn::GetAtt %s.%s: no such resource", logicalID, attr)
	}
	name := r.name(logicalID)
	switch attr {
	case "Arn":
		return r.ARN(res.Type, name), nil
	case "Name", "TopicName", "QueueName":
		return name, nil
	case "StreamArn":
		if res.Type == TypeTable {
			return r.ARN(res.Type, name) + "/stream/1970-01-01T00:00:00.000", nil
		}
	}
	return "", fmt.Errorf("Fn::GetAtt %s.%s: the local stack does not know this attribute", logicalID, attr)
}

// ARN makes up the ARN a resource of type typ and physical name would have
// in the resolver's region and account.
func (r *Resolver) ARN(typ, name string) string {
	region, account := r.region(), r.account()
	switch typ {
	case TypeTable:
		return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", region, account, name)
	case TypeSecret:
		return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s", region, account, name)
	case TypeFunction, "AWS::Lambda::Function":
		return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, account, name)
	case "AWS::IAM::Role":
		return fmt.Sprintf("arn:aws:iam::%s:role/%s", account, name)
	case "AWS::Events::Rule":
		return fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", region, account, name)
	case TypeGatewayStage:
		// The connections of a WebSocket stage: what ManageConnections
		// grants name, with the API's and stage's ids in place of the
		// names API Gateway makes up.
		for _, api := range r.Template.WebSocketAPIs {
			if api.StageID == name {
				return fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s", region, account, api.LogicalID, api.StageID)
			}
		}
		return ""
	}
	// AWS::SNS::Topic, AWS::SQS::Queue and the rest: service:region:account:name.
	parts := strings.Split(typ, "::")
	service := "unknown"
	if len(parts) == 3 {
		service = strings.ToLower(parts[1])
	}
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, region, account, name)
}

func (r *Resolver) sub(arg *yaml.Node) (string, error) {
	text, vars := arg, (*yaml.Node)(nil)
	if arg.Kind == yaml.SequenceNode {
		if len(arg.Content) != 2 {
			return "", fmt.Errorf("line %d: Fn::Sub wants a string or [string, variables]", arg.Line)
		}
		text, vars = deref(arg.Content[0]), deref(arg.Content[1])
	}
	if text.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("line %d: Fn::Sub wants a string", arg.Line)
	}
	return substitute(text.Value, func(name string) (string, error) {
		if v := field(vars, name); v != nil {
			return r.String(v)
		}
		if id, attr, ok := strings.Cut(name, "."); ok {
			return r.GetAtt(id, attr)
		}
		return r.Ref(name)
	})
}

func (r *Resolver) join(arg *yaml.Node) (string, error) {
	if arg.Kind != yaml.SequenceNode || len(arg.Content) != 2 || deref(arg.Content[0]).Kind != yaml.ScalarNode {
		return "", fmt.Errorf("line %d: Fn::Join wants [delimiter, [values]]", arg.Line)
	}
	var parts []string
	for _, v := range items(arg.Content[1]) {
		s, err := r.String(v)
		if err != nil {
			return "", err
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, deref(arg.Content[0]).Value), nil
}

func (r *Resolver) name(logicalID string) string {
	if r.Name != nil {
		return r.Name(logicalID)
	}
	return logicalID
}

func (r *Resolver) region() string {
	if r.Region != "" {
		return r.Region
	}
	return "us-east-1"
}

func (r *Resolver) account() string {
	if r.AccountID != "" {
		return r.AccountID
	}
	return "123456789012"
}

func (r *Resolver) stackName() string {
	if r.StackName != "" {
		return r.StackName
	}
	return "local"
}
