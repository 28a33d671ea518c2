// Package importjobfn builds MemberImportJobFunction, which runs member
// import jobs, and the runner MemberImportsFunction shares with it. It does
// not link the XLSX library (package workbook): a job reads rows the upload
// already parsed.
package importjobfn

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/memberimport"
	"workbench/shared/sms"
	"workbench/shared/stack/wire"
)

// Runner builds the import runner and the trigger that starts it
// (MEMBER_IMPORT_TRIGGER): invoke, an asynchronous invoke of the job
// function MEMBER_IMPORT_FUNCTION (the template's); local, a run in this
// process, in the background (the local stack, which has no Lambda
// service); none, the job waits for an invocation of the job function
// (tests). secrets are the ones the function reads, fetched at once.
func Runner(ctx context.Context, env *cloud.Env, secrets ...string) (*memberimport.Runner, error) {
	c := config.NewReader(env.Config)
	table := c.Required("MEMBER_IMPORTS_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	loginURL := c.String("LOGIN_URL_TEMPLATE", wire.DefaultLoginURL)
	senderID := c.String("SMS_SENDER_ID", "")
	function := c.String("MEMBER_IMPORT_FUNCTION", "")
	trigger := c.Required("MEMBER_IMPORT_TRIGGER")
	every := c.Duration("MEMBER_IMPORT_SMS_INTERVAL", memberimport.DefaultWelcomeInterval)
	// Rows per invocation before handing over; 0: until the deadline is
	// near (tests set a few rows to see the handover).
	perRun := c.Int("MEMBER_IMPORT_ROWS_PER_RUN", 0)
	if err := c.Err(); err != nil {
		return nil, err
	}
	if err := env.Prefetch(ctx, secrets...); err != nil {
		return nil, err
	}
	codec, err := wire.DirectoryCodec(ctx, env, directoryTable)
	if err != nil {
		return nil, err
	}
	// An import is audited once, when it is accepted (the job's entry);
	// its rows write no entries of their own, so the store has no log.
	dir := &directory.Service{
		Store: &directory.DynamoStore{DB: env.DynamoDB, Codec: codec}, SMS: &sms.SNS{Client: env.SNS, SenderID: senderID},
		LoginURL: loginURL, Now: env.Now,
	}
	store := &memberimport.Store{DB: env.DynamoDB, Table: table, Keys: codec.Keys}
	run := &memberimport.Runner{Store: store, Directory: dir, Now: env.Now, WelcomeInterval: every, MaxRows: perRun}
	switch trigger {
	case "invoke":
		if function == "" {
			return nil, fmt.Errorf("MEMBER_IMPORT_FUNCTION is required when MEMBER_IMPORT_TRIGGER is invoke")
		}
		run.Trigger = &memberimport.InvokeTrigger{Lambda: awslambda.NewFromConfig(env.AWS), Function: function}
	case "local":
		run.Trigger = &memberimport.LocalTrigger{Runner: run}
	case "none":
		run.Trigger = memberimport.Waiting{}
	default:
		return nil, fmt.Errorf("MEMBER_IMPORT_TRIGGER must be invoke, local or none, not %q", trigger)
	}
	return run, nil
}

// MemberImportJob runs the import job its event names, and invokes itself
// again to go on when its time runs out.
func MemberImportJob(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	run, err := Runner(ctx, env, "DATA_KEYS_SECRET", "INDEX_KEY_SECRET")
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
