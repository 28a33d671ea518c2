// Package stack is the composition root: for each function of template.yaml
// it builds, from the function's environment, the handler that its main
// hands to the Lambda runtime and that the local stack invokes. Domain
// packages never see Lambda or environment variables; this package is where
// they meet.
package stack

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/logging"
)

// Builder builds one function's handler. It runs once per cold start.
type Builder func(ctx context.Context, env *cloud.Env) (lambda.Handler, error)

// Functions maps each function's template LogicalId to its Builder.
var Functions = map[string]Builder{
	"PlatformFunction": Platform,
	// identity
	"VerifyCodeFunction": VerifyCode,
	"LoginFunction":      Login,
	// subscriptions
	"SubscriptionFunction": Subscription,
	"ExpiryScanFunction":   ExpiryScan,
	// directory
	"MembersFunction":   Members,
	"DirectoryFunction": Directory,
	// bulk import and export
	"MemberImportsFunction":   MemberImports,
	"MemberImportJobFunction": MemberImportJob,
	// messages
	"ChatSendFunction":       ChatSend,
	"ChatFunction":           Chat,
	"RocketReminderFunction": RocketReminder,
	// workbench apps
	"ApprovalsFunction":        Approvals,
	"AnnouncementsFunction":    Announcements,
	"CalendarFunction":         Calendar,
	"CalendarReminderFunction": CalendarReminder,
	// partners
	"PartnerFunction":     Partner,
	"MarketplaceFunction": Marketplace,
	"PartnerSyncFunction": PartnerSync,
}

// Boot prepares a function process: JSON logs on stdout and the cloud
// environment from the process environment. A function that cannot boot
// exits, so Lambda reports the failed cold start.
func Boot(ctx context.Context) *cloud.Env {
	logging.Setup(os.Stdout)
	env, err := cloud.Load(ctx, config.Env())
	if err != nil {
		slog.Error("cold start failed", "error", err)
		os.Exit(1)
	}
	return env
}

// Must returns h, or exits when building it failed.
func Must(h lambda.Handler, err error) lambda.Handler {
	if err != nil {
		slog.Error("cold start failed", "error", err)
		os.Exit(1)
	}
	return h
}
