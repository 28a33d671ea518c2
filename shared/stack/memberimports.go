package stack

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/httpapi"
	"workbench/shared/lambdahttp"
	"workbench/shared/memberimport"
)

// memberImports builds the import runner and the trigger that starts it:
// in Lambda an asynchronous invoke of the job function
// (MEMBER_IMPORT_FUNCTION); elsewhere (the local stack, tests) a run in
// this process, in the background. MEMBER_IMPORT_TRIGGER overrides:
// invoke or local.
func memberImports(ctx context.Context, env *cloud.Env) (*memberimport.Runner, error) {
	c := config.NewReader(env.Config)
	table := c.Required("MEMBER_IMPORTS_TABLE")
	function := c.String("MEMBER_IMPORT_FUNCTION", "")
	local := localSetting(c, env)
	trigger := local("MEMBER_IMPORT_TRIGGER")
	every := c.Duration("MEMBER_IMPORT_SMS_INTERVAL", memberimport.DefaultWelcomeInterval)
	if err := c.Err(); err != nil {
		return nil, err
	}
	dir, err := directoryService(ctx, env)
	if err != nil {
		return nil, err
	}
	store := &memberimport.Store{DB: env.DynamoDB, Table: table, Keys: dir.Codec.Keys}
	run := &memberimport.Runner{Store: store, Directory: dir, Now: env.Now, WelcomeInterval: every}
	if trigger == "" {
		trigger = "local"
		if env.Config("AWS_LAMBDA_FUNCTION_NAME") != "" {
			trigger = "invoke"
		}
	}
	switch trigger {
	case "invoke":
		if function == "" {
			return nil, fmt.Errorf("MEMBER_IMPORT_FUNCTION is required when MEMBER_IMPORT_TRIGGER is invoke")
		}
		run.Trigger = &memberimport.InvokeTrigger{Lambda: awslambda.NewFromConfig(env.AWS), Function: function}
	case "local":
		run.Trigger = &memberimport.LocalTrigger{Runner: run}
	default:
		return nil, fmt.Errorf("MEMBER_IMPORT_TRIGGER must be invoke or local, not %q", trigger)
	}
	return run, nil
}

// MemberImports serves the import routes (upload, status, error report,
// template) and the export.
func MemberImports(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	run, err := memberImports(ctx, env)
	if err != nil {
		return nil, err
	}
	members, err := memberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	svc := &memberimport.Service{Store: run.Store, Directory: run.Directory, Trigger: run.Trigger, Now: env.Now}
	r := httpapi.NewRouter()
	(&memberimport.HTTP{Service: svc, Auth: members}).Register(r)
	return lambdahttp.Handler(r), nil
}

// MemberImportJob runs an import job named by its event, and invokes
// itself again to go on when its time runs out.
func MemberImportJob(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	run, err := memberImports(ctx, env)
	if err != nil {
		return nil, err
	}
	return lambda.NewHandler(func(ctx context.Context, ev json.RawMessage) error {
		var in memberimport.Event
		if err := json.Unmarshal(ev, &in); err != nil || in.TenantID == "" || in.JobID == "" {
			return fmt.Errorf("memberimport: the event names no job")
		}
		return run.Run(ctx, in.TenantID, in.JobID)
	}), nil
}
