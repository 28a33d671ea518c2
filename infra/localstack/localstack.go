// Package localstack stands the functions of a SAM template up on one
// machine: it creates the template's tables and secrets on a moto server,
// gives each function the environment its template entry declares, builds
// the functions in-process, and serves them behind an HTTP gateway that
// speaks to them exactly as API Gateway's HTTP API does (payload format 2.0,
// through lambda.Handler.Invoke, the bytes path Lambda itself uses).
//
// Every table and secret name carries a prefix, so that many stacks (one
// per test) can share one moto server; the local program uses none, so its
// tables are named by their logical ids.
package localstack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"workbench/infra/awscalls"
	"workbench/infra/template"
)

// Local AWS settings. moto accepts any credentials.
const (
	Region          = "us-east-1"
	AccessKeyID     = "test"
	SecretAccessKey = "test"
)

// Config describes a local stack.
type Config struct {
	Template *template.Template
	// Endpoint is the moto server's base URL.
	Endpoint string
	// Prefix is prepended to every table and secret name.
	Prefix string
	// Parameters override the defaults of the template's parameters.
	Parameters map[string]string
	// Settings override function settings (environment variables) for
	// every function, after the template's are resolved.
	Settings map[string]string
	// FunctionSettings override settings of one function (by logical id),
	// after Settings.
	FunctionSettings map[string]map[string]string
	// Secrets override the local values of secrets, by logical id.
	Secrets map[string]string
	// Now, if set, is the clock of every function built.
	Now func() time.Time
	// DynamoDBOptions, if any, rebuild every function's DynamoDB client
	// with them: to count its round trips, say.
	DynamoDBOptions []func(*dynamodb.Options)
	// Recorder, if set, records every AWS call of every function built,
	// under the function's logical id and with resources named as the
	// template names them (no Prefix), for infra/iamcheck.
	Recorder *awscalls.Recorder
	// Logger receives the gateway's request log and function failures;
	// nil discards them.
	Logger *slog.Logger
	// GatewayURL is the base URL the gateway is served on. A function
	// setting that names a WebSocket API of the template (the Management
	// API endpoint PostToConnection calls) resolves to GatewayURL/<stage>.
	GatewayURL string
}

// Stack is a provisioned (or to be provisioned) local stack.
type Stack struct {
	cfg      Config
	resolver *template.Resolver
	db       *dynamodb.Client
	sm       *secretsmanager.Client
	log      *slog.Logger

	snapMu sync.Mutex
	saved  map[string]int64 // snapshot file -> the table version it holds
}

// New returns the stack cfg describes. It makes no network call.
func New(cfg Config) (*Stack, error) {
	if cfg.Template == nil || cfg.Endpoint == "" {
		return nil, errors.New("localstack: a template and an endpoint are required")
	}
	s := &Stack{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.resolver = &template.Resolver{
		Template:   cfg.Template,
		Region:     Region,
		Parameters: cfg.Parameters,
		Name:       s.Name,
	}
	creds := credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")
	s.db = dynamodb.New(dynamodb.Options{
		Region:       Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		Credentials:  creds,
	})
	s.sm = secretsmanager.New(secretsmanager.Options{
		Region:       Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		Credentials:  creds,
	})
	return s, nil
}

// UseLocalCredentials gives the process the settings the AWS SDK's default
// chain needs to talk to moto: dummy credentials (unless some are set) and
// no instance metadata lookups, which would otherwise stall every client
// built outside this package.
func UseLocalCredentials() {
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" || os.Getenv("AWS_SECRET_ACCESS_KEY") == "" {
		os.Setenv("AWS_ACCESS_KEY_ID", AccessKeyID)
		os.Setenv("AWS_SECRET_ACCESS_KEY", SecretAccessKey)
		os.Unsetenv("AWS_SESSION_TOKEN")
	}
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// SetGatewayURL sets Config.GatewayURL, once the gateway's address is
// known; functions built afterwards see it.
func (s *Stack) SetGatewayURL(url string) { s.cfg.GatewayURL = url }

// Template returns the stack's template.
func (s *Stack) Template() *template.Template { return s.cfg.Template }

// Endpoint returns the moto server's base URL.
func (s *Stack) Endpoint() string { return s.cfg.Endpoint }

// Name returns the physical name of the resource with the given logical id.
func (s *Stack) Name(logicalID string) string { return s.cfg.Prefix + logicalID }

// templateARN returns the ARN a resource of the stack has in the template's
// own naming: its logical id, without the stack's prefix.
func (s *Stack) templateARN(cfnType, physicalName string) string {
	canonical := template.Resolver{Template: s.cfg.Template}
	if cfnType == template.TypeGatewayStage && physicalName == "" && len(s.cfg.Template.WebSocketAPIs) == 1 {
		// A Management API client knows its endpoint, not the stage: the
		// local stack serves the template's one WebSocket API.
		physicalName = s.cfg.Template.WebSocketAPIs[0].StageID
	}
	return canonical.ARN(cfnType, strings.TrimPrefix(physicalName, s.cfg.Prefix))
}

// Tables maps each table's logical id to its physical name.
func (s *Stack) Tables() map[string]string {
	m := make(map[string]string, len(s.cfg.Template.Tables))
	for _, t := range s.cfg.Template.Tables {
		m[t.LogicalID] = s.Name(t.LogicalID)
	}
	return m
}

// DynamoDB returns a client of the stack's DynamoDB, with opts applied.
func (s *Stack) DynamoDB(opts ...func(*dynamodb.Options)) *dynamodb.Client {
	if len(opts) == 0 {
		return s.db
	}
	return dynamodb.New(s.db.Options(), opts...)
}

// inProcess is what a trigger the template sets to invoke (an asynchronous
// invoke of another function) is here, where there is no Lambda service:
// the work runs in this process.
var inProcess = map[string]string{"MEMBER_IMPORT_TRIGGER": "local", "PARTNER_SYNC_TRIGGER": "async"}

// Env returns the environment of the function with the given logical id:
// its template variables resolved against this stack (triggers that invoke
// a function made in-process ones), the settings that point the AWS SDK at
// moto, and Config.Settings and FunctionSettings over all.
func (s *Stack) Env(logicalID string) (map[string]string, error) {
	fn, ok := s.cfg.Template.Function(logicalID)
	if !ok {
		return nil, fmt.Errorf("localstack: no function %s in the template", logicalID)
	}
	env := map[string]string{
		"AWS_ENDPOINT_URL":      s.cfg.Endpoint,
		"AWS_REGION":            Region,
		"AWS_ACCESS_KEY_ID":     AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": SecretAccessKey,
	}
	for name, v := range fn.Environment {
		val, err := s.resolver.String(v)
		if err != nil {
			return nil, fmt.Errorf("localstack: %s: %s: %w", logicalID, name, err)
		}
		for _, api := range s.cfg.Template.WebSocketAPIs {
			if s.cfg.GatewayURL != "" && template.RefersTo(v, api.LogicalID) {
				val = strings.TrimSuffix(s.cfg.GatewayURL, "/") + "/" + api.Stage
			}
		}
		if local, ok := inProcess[name]; ok && val == "invoke" {
			val = local
		}
		env[name] = val
	}
	maps.Copy(env, s.cfg.Settings)
	maps.Copy(env, s.cfg.FunctionSettings[logicalID])
	return env, nil
}

// Provision creates the template's tables and secrets. Those that exist
// already are left as they are.
func (s *Stack) Provision(ctx context.Context) error {
	for _, t := range s.cfg.Template.Tables {
		if err := s.createTable(ctx, t); err != nil {
			return fmt.Errorf("localstack: table %s: %w", t.LogicalID, err)
		}
	}
	for _, sec := range s.cfg.Template.Secrets {
		if err := s.createSecret(ctx, sec); err != nil {
			return fmt.Errorf("localstack: secret %s: %w", sec.LogicalID, err)
		}
	}
	return nil
}

func (s *Stack) createTable(ctx context.Context, t template.Table) error {
	name := s.Name(t.LogicalID)
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: dbtypes.BillingModePayPerRequest,
		KeySchema:   keySchema(t.KeySchema),
	}
	for _, a := range t.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, dbtypes.AttributeDefinition{
			AttributeName: aws.String(a.AttributeName),
			AttributeType: dbtypes.ScalarAttributeType(a.AttributeType),
		})
	}
	for _, ix := range t.GlobalSecondaryIndexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, dbtypes.GlobalSecondaryIndex{
			IndexName:  aws.String(ix.IndexName),
			KeySchema:  keySchema(ix.KeySchema),
			Projection: projection(ix.Projection),
		})
	}
	if t.StreamViewType != "" {
		in.StreamSpecification = &dbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: dbtypes.StreamViewType(t.StreamViewType)}
	}
	for _, ix := range t.LocalSecondaryIndexes {
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, dbtypes.LocalSecondaryIndex{
			IndexName:  aws.String(ix.IndexName),
			KeySchema:  keySchema(ix.KeySchema),
			Projection: projection(ix.Projection),
		})
	}
	_, err := s.db.CreateTable(ctx, in)
	var inUse *dbtypes.ResourceInUseException
	existed := errors.As(err, &inUse)
	if err != nil && !existed {
		return err
	}
	if t.TTLAttribute == "" {
		return nil
	}
	if existed {
		out, err := s.db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
		if err != nil {
			return err
		}
		if d := out.TimeToLiveDescription; d != nil && d.TimeToLiveStatus == dbtypes.TimeToLiveStatusEnabled {
			return nil
		}
	}
	_, err = s.db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &dbtypes.TimeToLiveSpecification{
			AttributeName: aws.String(t.TTLAttribute),
			Enabled:       aws.Bool(true),
		},
	})
	return err
}

func keySchema(ks []template.KeyElement) []dbtypes.KeySchemaElement {
	out := make([]dbtypes.KeySchemaElement, len(ks))
	for i, k := range ks {
		out[i] = dbtypes.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: dbtypes.KeyType(k.KeyType)}
	}
	return out
}

func projection(p template.Projection) *dbtypes.Projection {
	typ := dbtypes.ProjectionType(p.ProjectionType)
	if typ == "" {
		typ = dbtypes.ProjectionTypeAll
	}
	return &dbtypes.Projection{ProjectionType: typ, NonKeyAttributes: p.NonKeyAttributes}
}

func (s *Stack) createSecret(ctx context.Context, sec template.Secret) error {
	value, ok := s.cfg.Secrets[sec.LogicalID]
	if !ok {
		var err error
		if value, err = SecretValue(sec); err != nil {
			return err
		}
	}
	_, err := s.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(s.Name(sec.LogicalID)),
		SecretString: aws.String(value),
	})
	var exists *smtypes.ResourceExistsException
	if errors.As(err, &exists) {
		return nil
	}
	return err
}

// SecretValue returns the local value of a template secret. Local values
// are fixed, so that data sealed under them by one run of the local stack
// still opens in the next:
//
//   - OperatorKeySecret: $WORKBENCH_OPERATOR_KEY, or "local-operator-key";
//   - a literal SecretString: itself;
//   - a generated secret with SecretStringTemplate and GenerateStringKey:
//     the template's JSON with that key set to a 64-character local value;
//   - any other generated secret: a 64-character value derived from its
//     logical id.
func SecretValue(sec template.Secret) (string, error) {
	if sec.LogicalID == "OperatorKeySecret" {
		if k := os.Getenv("WORKBENCH_OPERATOR_KEY"); k != "" {
			return k, nil
		}
		return "local-operator-key", nil
	}
	if sec.SecretString != "" {
		return sec.SecretString, nil
	}
	if g := sec.Generate; g != nil && g.SecretStringTemplate != "" && g.GenerateStringKey != "" {
		var doc map[string]any
		if err := json.Unmarshal([]byte(g.SecretStringTemplate), &doc); err != nil {
			return "", fmt.Errorf("SecretStringTemplate is not a JSON object: %w", err)
		}
		doc[g.GenerateStringKey] = localKey(sec.LogicalID)
		b, err := json.Marshal(doc) // keys sorted: the same text every run
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	return localKey(sec.LogicalID), nil
}

// localKey is a fixed 64-character secret for the logical id: hex, so it
// suits ExcludePunctuation.
func localKey(logicalID string) string {
	sum := sha256.Sum256([]byte("workbench local secret " + logicalID))
	return hex.EncodeToString(sum[:])
}

// Delete removes the stack's tables and secrets, so that a test's data does
// not weigh on a moto server that outlives it.
func (s *Stack) Delete(ctx context.Context) error {
	var errs []error
	for _, t := range s.cfg.Template.Tables {
		_, err := s.db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(s.Name(t.LogicalID))})
		var missing *dbtypes.ResourceNotFoundException
		if err != nil && !errors.As(err, &missing) {
			errs = append(errs, fmt.Errorf("table %s: %w", t.LogicalID, err))
		}
	}
	for _, sec := range s.cfg.Template.Secrets {
		_, err := s.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
			SecretId:                   aws.String(s.Name(sec.LogicalID)),
			ForceDeleteWithoutRecovery: aws.Bool(true),
		})
		var missing *smtypes.ResourceNotFoundException
		if err != nil && !errors.As(err, &missing) {
			errs = append(errs, fmt.Errorf("secret %s: %w", sec.LogicalID, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("localstack: delete: %w", err)
	}
	return nil
}
