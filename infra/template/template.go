// Package template reads an AWS SAM template: the parameters, globals and
// resources that the local stack needs to stand in for CloudFormation.
//
// Values are kept as yaml.Node where the template may hold an intrinsic
// function (!Ref, !GetAtt, !Sub, or their long forms), so that a Resolver can
// give them local meanings later. Everything else is decoded into plain
// types when the template is parsed, so a malformed template fails once, at
// Parse, rather than wherever a field happens to be read.
package template

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Resource types the typed views are built from.
const (
	TypeFunction = "AWS::Serverless::Function"
	TypeHTTPAPI  = "AWS::Serverless::HttpApi"
	TypeTable    = "AWS::DynamoDB::Table"
	TypeSecret   = "AWS::SecretsManager::Secret"

	TypeGatewayAPI         = "AWS::ApiGatewayV2::Api"
	TypeGatewayRoute       = "AWS::ApiGatewayV2::Route"
	TypeGatewayIntegration = "AWS::ApiGatewayV2::Integration"
	TypeGatewayRouteResp   = "AWS::ApiGatewayV2::RouteResponse"
	TypeGatewayStage       = "AWS::ApiGatewayV2::Stage"
	TypeEventSourceMapping = "AWS::Lambda::EventSourceMapping"
)

// Template is a parsed SAM template.
type Template struct {
	Parameters map[string]Parameter
	// Conditions holds each condition's expression, unevaluated.
	Conditions map[string]*yaml.Node
	Globals    Globals
	// Resources holds every resource by logical id; Order lists the ids in
	// the order the template declares them.
	Resources map[string]*Resource
	Order     []string

	// Typed views of the resources, in template order.
	Functions []Function
	Tables    []Table
	Secrets   []Secret
	HTTPAPIs  []string // logical ids of the AWS::Serverless::HttpApi resources
	// WebSocketAPIs are the AWS::ApiGatewayV2::Api resources with
	// ProtocolType WEBSOCKET, with their routes and stage.
	WebSocketAPIs []WebSocketAPI
	// StreamMappings are the AWS::Lambda::EventSourceMapping resources
	// reading a table's stream.
	StreamMappings []StreamMapping
}

// Parameter is one entry of the Parameters section.
type Parameter struct {
	Type       string
	Default    string
	HasDefault bool
}

// Globals is the Globals section, as far as functions are concerned.
type Globals struct {
	Function FunctionGlobals
}

// FunctionGlobals holds the properties every function inherits unless it
// sets them itself.
type FunctionGlobals struct {
	Runtime       string
	Handler       string
	CodeURI       string
	Architectures []string
	MemorySize    int
	Timeout       int
	Tracing       string                // Active or PassThrough
	LogFormat     string                // LoggingConfig.LogFormat: JSON or Text
	Environment   map[string]*yaml.Node // Environment.Variables
}

// Resource is one entry of the Resources section.
type Resource struct {
	LogicalID  string
	Type       string
	Properties *yaml.Node // a mapping, or nil when the resource has none
	Metadata   *yaml.Node // a mapping, or nil
	// DeletionPolicy and UpdateReplacePolicy as written; "" when absent
	// (CloudFormation then deletes).
	DeletionPolicy, UpdateReplacePolicy string
	// Condition names the condition the resource is created under, if any.
	Condition string
}

// Function is an AWS::Serverless::Function with Globals applied.
type Function struct {
	LogicalID     string
	Runtime       string
	Architectures []string
	Handler       string
	CodeURI       string
	BuildMethod   string // Metadata.BuildMethod
	MemorySize    int    // MB
	Timeout       int    // seconds
	Tracing       string // Tracing, Active or PassThrough; "" when not set
	LogFormat     string // LoggingConfig.LogFormat; "" when not set
	// Environment is Environment.Variables merged over the globals' (the
	// function's own value wins). Values may be intrinsics; see Resolver.
	Environment map[string]*yaml.Node
	// Policies are the entries of Policies as written: managed policy
	// names, SAM policy templates or policy documents.
	Policies []*yaml.Node
	Events   []Event

	tmpl *Template
}

// Event is one entry of a function's Events.
type Event struct {
	Name string
	Type string // HttpApi, Schedule, ScheduleV2, ...
	// Method and Path of an HttpApi event. Method is upper case, "ANY" when
	// the event gives none; both are empty for the $default route.
	Method string
	Path   string
	// Schedule is the rate(...) or cron(...) expression of a Schedule or
	// ScheduleV2 event.
	Schedule   string
	Properties *yaml.Node
}

// RouteKey is the HttpApi event's route key as API Gateway spells it:
// "GET /v1/health", or "$default".
func (e Event) RouteKey() string {
	if e.Method == "" && e.Path == "" {
		return "$default"
	}
	return e.Method + " " + e.Path
}

// Table is an AWS::DynamoDB::Table.
type Table struct {
	LogicalID              string
	BillingMode            string
	AttributeDefinitions   []AttributeDefinition
	KeySchema              []KeyElement
	GlobalSecondaryIndexes []Index
	LocalSecondaryIndexes  []Index
	// TTLAttribute is the attribute of TimeToLiveSpecification, or "" when
	// time to live is not enabled.
	TTLAttribute string
	// StreamViewType is StreamSpecification.StreamViewType, or "" when the
	// table has no stream.
	StreamViewType string
}

// AttributeDefinition declares the type (S, N or B) of a key attribute.
type AttributeDefinition struct {
	AttributeName string `yaml:"AttributeName"`
	AttributeType string `yaml:"AttributeType"`
}

// KeyElement is one key of a key schema; KeyType is HASH or RANGE.
type KeyElement struct {
	AttributeName string `yaml:"AttributeName"`
	KeyType       string `yaml:"KeyType"`
}

// Index is a secondary index.
type Index struct {
	IndexName  string       `yaml:"IndexName"`
	KeySchema  []KeyElement `yaml:"KeySchema"`
	Projection Projection   `yaml:"Projection"`
}

// Projection says which attributes an index copies.
type Projection struct {
	ProjectionType   string   `yaml:"ProjectionType"`
	NonKeyAttributes []string `yaml:"NonKeyAttributes"`
}

// Secret is an AWS::SecretsManager::Secret.
type Secret struct {
	LogicalID string
	// SecretString is the literal value the template gives, if any.
	SecretString string
	// Generate is GenerateSecretString, or nil.
	Generate *GenerateSecretString
}

// GenerateSecretString describes a value Secrets Manager generates.
type GenerateSecretString struct {
	SecretStringTemplate string `yaml:"SecretStringTemplate"`
	GenerateStringKey    string `yaml:"GenerateStringKey"`
	PasswordLength       int    `yaml:"PasswordLength"`
	ExcludePunctuation   bool   `yaml:"ExcludePunctuation"`
}

// ParseFile parses the template at path.
func ParseFile(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse parses a template.
func Parse(data []byte) (*Template, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	root := deref(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = deref(root.Content[0])
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("template: the document is not a mapping")
	}
	t := &Template{Parameters: map[string]Parameter{}, Conditions: map[string]*yaml.Node{}, Resources: map[string]*Resource{}}
	if err := t.parseParameters(field(root, "Parameters")); err != nil {
		return nil, err
	}
	for name, c := range pairs(field(root, "Conditions")) {
		t.Conditions[name] = c
	}
	if err := t.parseGlobals(field(root, "Globals")); err != nil {
		return nil, err
	}
	if err := t.parseResources(field(root, "Resources")); err != nil {
		return nil, err
	}
	for _, id := range t.Order {
		r := t.Resources[id]
		var err error
		switch r.Type {
		case TypeFunction:
			var fn Function
			if fn, err = t.parseFunction(r); err == nil {
				t.Functions = append(t.Functions, fn)
			}
		case TypeTable:
			var tb Table
			if tb, err = parseTable(r); err == nil {
				t.Tables = append(t.Tables, tb)
			}
		case TypeSecret:
			var s Secret
			if s, err = parseSecret(r); err == nil {
				t.Secrets = append(t.Secrets, s)
			}
		case TypeHTTPAPI:
			t.HTTPAPIs = append(t.HTTPAPIs, id)
		}
		if err != nil {
			return nil, fmt.Errorf("template: resource %s: %w", id, err)
		}
	}
	if err := t.parseRealtime(); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	return t, nil
}

// Function returns the function with the given logical id.
func (t *Template) Function(logicalID string) (*Function, bool) {
	for i := range t.Functions {
		if t.Functions[i].LogicalID == logicalID {
			return &t.Functions[i], true
		}
	}
	return nil, false
}

// Table returns the table with the given logical id.
func (t *Template) Table(logicalID string) (*Table, bool) {
	for i := range t.Tables {
		if t.Tables[i].LogicalID == logicalID {
			return &t.Tables[i], true
		}
	}
	return nil, false
}

// PolicyTables returns the logical ids of the DynamoDB tables that the
// function's policies grant access to, sorted: those a policy statement's
// Resource (or NotResource) refers to, and those given to a SAM policy
// template (DynamoDBCrudPolicy: {TableName: !Ref T}).
func (f *Function) PolicyTables() []string {
	var ids []string
	add := func(n *yaml.Node) {
		for _, ref := range references(n) {
			if r, ok := f.tmpl.Resources[ref.LogicalID]; ok && r.Type == TypeTable && !slices.Contains(ids, ref.LogicalID) {
				ids = append(ids, ref.LogicalID)
			}
		}
	}
	for _, p := range f.Policies {
		p = deref(p)
		if p.Kind != yaml.MappingNode {
			continue // a managed policy name or ARN
		}
		stmts := field(p, "Statement")
		if stmts == nil {
			add(p) // a policy template and its parameters
			continue
		}
		for _, s := range items(stmts) {
			add(field(s, "Resource"))
			add(field(s, "NotResource"))
		}
	}
	slices.Sort(ids)
	return ids
}

// HTTPEvents returns the function's HttpApi events.
func (f *Function) HTTPEvents() []Event {
	var evs []Event
	for _, e := range f.Events {
		if e.Type == "HttpApi" {
			evs = append(evs, e)
		}
	}
	return evs
}

func (t *Template) parseParameters(n *yaml.Node) error {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("template: Parameters is not a mapping")
	}
	for name, p := range pairs(n) {
		def := field(p, "Default")
		param := Parameter{Type: scalar(field(p, "Type"))}
		if def != nil {
			switch def.Kind {
			case yaml.SequenceNode: // CommaDelimitedList
				var vs []string
				for _, v := range def.Content {
					vs = append(vs, deref(v).Value)
				}
				param.Default = strings.Join(vs, ",")
			case yaml.ScalarNode:
				param.Default = def.Value
			default:
				return fmt.Errorf("template: parameter %s: Default is not a scalar", name)
			}
			param.HasDefault = true
		}
		t.Parameters[name] = param
	}
	return nil
}

func (t *Template) parseGlobals(n *yaml.Node) error {
	fn := field(n, "Function")
	if fn == nil {
		return nil
	}
	g := &t.Globals.Function
	var err error
	g.Runtime, g.Handler, g.CodeURI = scalar(field(fn, "Runtime")), scalar(field(fn, "Handler")), scalar(field(fn, "CodeUri"))
	g.Architectures = list(field(fn, "Architectures"))
	g.Tracing = scalar(field(fn, "Tracing"))
	g.LogFormat = scalar(field(field(fn, "LoggingConfig"), "LogFormat"))
	if g.MemorySize, err = integer(field(fn, "MemorySize")); err != nil {
		return fmt.Errorf("template: Globals.Function.MemorySize: %w", err)
	}
	if g.Timeout, err = integer(field(fn, "Timeout")); err != nil {
		return fmt.Errorf("template: Globals.Function.Timeout: %w", err)
	}
	if g.Environment, err = variables(fn); err != nil {
		return fmt.Errorf("template: Globals.Function: %w", err)
	}
	return nil
}

func (t *Template) parseResources(n *yaml.Node) error {
	if n == nil {
		return fmt.Errorf("template: no Resources")
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("template: Resources is not a mapping")
	}
	for id, r := range pairs(n) {
		if _, dup := t.Resources[id]; dup {
			return fmt.Errorf("template: resource %s is declared twice", id)
		}
		if r.Kind != yaml.MappingNode {
			return fmt.Errorf("template: resource %s is not a mapping", id)
		}
		typ := scalar(field(r, "Type"))
		if typ == "" {
			return fmt.Errorf("template: resource %s has no Type", id)
		}
		props := field(r, "Properties")
		if props != nil && props.Kind != yaml.MappingNode {
			return fmt.Errorf("template: resource %s: Properties is not a mapping", id)
		}
		t.Resources[id] = &Resource{
			LogicalID: id, Type: typ, Properties: props, Metadata: field(r, "Metadata"),
			DeletionPolicy:      scalar(field(r, "DeletionPolicy")),
			UpdateReplacePolicy: scalar(field(r, "UpdateReplacePolicy")),
			Condition:           scalar(field(r, "Condition")),
		}
		t.Order = append(t.Order, id)
	}
	return nil
}

func (t *Template) parseFunction(r *Resource) (Function, error) {
	g := t.Globals.Function
	p := r.Properties
	fn := Function{
		LogicalID:     r.LogicalID,
		Runtime:       or(scalar(field(p, "Runtime")), g.Runtime),
		Handler:       or(scalar(field(p, "Handler")), g.Handler),
		CodeURI:       or(scalar(field(p, "CodeUri")), g.CodeURI),
		Architectures: list(field(p, "Architectures")),
		BuildMethod:   scalar(field(r.Metadata, "BuildMethod")),
		MemorySize:    g.MemorySize,
		Timeout:       g.Timeout,
		Tracing:       or(scalar(field(p, "Tracing")), g.Tracing),
		LogFormat:     or(scalar(field(field(p, "LoggingConfig"), "LogFormat")), g.LogFormat),
		Environment:   map[string]*yaml.Node{},
		tmpl:          t,
	}
	if fn.Architectures == nil {
		fn.Architectures = g.Architectures
	}
	if n := field(p, "MemorySize"); n != nil {
		var err error
		if fn.MemorySize, err = integer(n); err != nil {
			return fn, fmt.Errorf("property MemorySize: %w", err)
		}
	}
	if n := field(p, "Timeout"); n != nil {
		var err error
		if fn.Timeout, err = integer(n); err != nil {
			return fn, fmt.Errorf("property Timeout: %w", err)
		}
	}
	// SAM's defaults.
	if fn.MemorySize == 0 {
		fn.MemorySize = 128
	}
	if fn.Timeout == 0 {
		fn.Timeout = 3
	}
	for k, v := range g.Environment {
		fn.Environment[k] = v
	}
	own, err := variables(p)
	if err != nil {
		return fn, err
	}
	for k, v := range own {
		fn.Environment[k] = v
	}
	if pol := field(p, "Policies"); pol != nil {
		if pol.Kind == yaml.SequenceNode {
			fn.Policies = items(pol)
		} else {
			fn.Policies = []*yaml.Node{pol}
		}
	}
	evs := field(p, "Events")
	if evs != nil && evs.Kind != yaml.MappingNode {
		return fn, errors.New("property Events is not a mapping")
	}
	for name, e := range pairs(evs) {
		ev, err := parseEvent(name, e)
		if err != nil {
			return fn, fmt.Errorf("event %s: %w", name, err)
		}
		fn.Events = append(fn.Events, ev)
	}
	return fn, nil
}

func parseEvent(name string, n *yaml.Node) (Event, error) {
	ev := Event{Name: name, Type: scalar(field(n, "Type")), Properties: field(n, "Properties")}
	if ev.Type == "" {
		return ev, fmt.Errorf("no Type")
	}
	switch ev.Type {
	case "HttpApi":
		ev.Method = strings.ToUpper(scalar(field(ev.Properties, "Method")))
		ev.Path = scalar(field(ev.Properties, "Path"))
		switch {
		case ev.Path == "" && ev.Method == "":
			// the $default route
		case ev.Path == "" || !strings.HasPrefix(ev.Path, "/"):
			return ev, fmt.Errorf("property Path %q does not start with /", ev.Path)
		case ev.Method == "":
			ev.Method = "ANY"
		}
	case "Schedule":
		ev.Schedule = scalar(field(ev.Properties, "Schedule"))
	case "ScheduleV2":
		ev.Schedule = scalar(field(ev.Properties, "ScheduleExpression"))
	}
	return ev, nil
}

func parseTable(r *Resource) (Table, error) {
	p := r.Properties
	tb := Table{LogicalID: r.LogicalID, BillingMode: scalar(field(p, "BillingMode"))}
	decode := func(key string, v any) error {
		if n := field(p, key); n != nil {
			if err := n.Decode(v); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
		return nil
	}
	if err := decode("AttributeDefinitions", &tb.AttributeDefinitions); err != nil {
		return tb, err
	}
	if err := decode("KeySchema", &tb.KeySchema); err != nil {
		return tb, err
	}
	if err := decode("GlobalSecondaryIndexes", &tb.GlobalSecondaryIndexes); err != nil {
		return tb, err
	}
	if err := decode("LocalSecondaryIndexes", &tb.LocalSecondaryIndexes); err != nil {
		return tb, err
	}
	if len(tb.KeySchema) == 0 {
		return tb, fmt.Errorf("no KeySchema")
	}
	tb.StreamViewType = scalar(field(field(p, "StreamSpecification"), "StreamViewType"))
	if ttl := field(p, "TimeToLiveSpecification"); ttl != nil {
		on, err := boolean(field(ttl, "Enabled"))
		if err != nil {
			return tb, fmt.Errorf("TimeToLiveSpecification.Enabled: %w", err)
		}
		if on {
			tb.TTLAttribute = scalar(field(ttl, "AttributeName"))
		}
	}
	return tb, nil
}

func parseSecret(r *Resource) (Secret, error) {
	s := Secret{LogicalID: r.LogicalID, SecretString: scalar(field(r.Properties, "SecretString"))}
	if g := field(r.Properties, "GenerateSecretString"); g != nil {
		s.Generate = new(GenerateSecretString)
		if err := g.Decode(s.Generate); err != nil {
			return s, fmt.Errorf("GenerateSecretString: %w", err)
		}
	}
	return s, nil
}

// variables returns Environment.Variables of the properties n.
func variables(n *yaml.Node) (map[string]*yaml.Node, error) {
	vars := field(field(n, "Environment"), "Variables")
	if vars == nil {
		return nil, nil
	}
	if vars.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("Environment.Variables is not a mapping")
	}
	m := map[string]*yaml.Node{}
	for k, v := range pairs(vars) {
		m[k] = v
	}
	return m, nil
}

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// field returns the value of key in the mapping n, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}

// pairs yields the keys and values of the mapping n, in order.
func pairs(n *yaml.Node) func(yield func(string, *yaml.Node) bool) {
	return func(yield func(string, *yaml.Node) bool) {
		n = deref(n)
		if n == nil || n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !yield(n.Content[i].Value, deref(n.Content[i+1])) {
				return
			}
		}
	}
}

// items returns the entries of a sequence, or n itself when it is not one.
func items(n *yaml.Node) []*yaml.Node {
	n = deref(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return []*yaml.Node{n}
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = deref(c)
	}
	return out
}

// scalar returns the text of a plain scalar, or "" for anything else
// (including an intrinsic, which has no text until resolved).
func scalar(n *yaml.Node) string {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || isShortForm(n) {
		return ""
	}
	return n.Value
}

// list returns the texts of a sequence of scalars (or of one scalar).
func list(n *yaml.Node) []string {
	n = deref(n)
	if n == nil {
		return nil
	}
	var out []string
	for _, c := range items(n) {
		out = append(out, scalar(c))
	}
	return out
}

func integer(n *yaml.Node) (int, error) {
	if n == nil {
		return 0, nil
	}
	if n.Kind != yaml.ScalarNode || isShortForm(n) {
		return 0, fmt.Errorf("not a number")
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", n.Value)
	}
	return v, nil
}

func boolean(n *yaml.Node) (bool, error) {
	if n == nil {
		return false, nil
	}
	if n.Kind != yaml.ScalarNode || isShortForm(n) {
		return false, fmt.Errorf("not true or false")
	}
	v, err := strconv.ParseBool(n.Value)
	if err != nil {
		return false, fmt.Errorf("%q is not true or false", n.Value)
	}
	return v, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
