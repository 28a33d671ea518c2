// Package stack is the composition root's table of contents: Functions
// maps each function of template.yaml to the builder of its handler. The
// local stack (infra/local, infra/localstack via infra/stacktest) and the
// contract tests use it; no function's binary imports it, because it
// reaches every domain.
//
// The builders live in one package per capability under shared/stack,
// named for it with an "fn" suffix (platformfn, identityfn, billingfn,
// directoryfn, memberimportfn, importjobfn, chatfn, approvalfn, announcefn, calendarfn,
// partnerfn), so that functions/<name>/main.go links only its own domain
// and runs only its domain's package init. What several builders share (Start, Builder,
// member authentication, the directory codec) is in shared/stack/wire,
// which imports no other domain.
//
// Adding a function:
//   - its resources in template.yaml, its line in the Makefile's FUNCTIONS
//     list and its build-<LogicalId> target;
//   - its builder, a wire.Builder, in the package of its capability (a new
//     xyzfn package for a new capability). The builder reads every secret
//     it needs first, with one env.Prefetch (make coldstart allows one AWS
//     round trip per cold start), and does nothing expensive before the
//     first request;
//   - functions/<name>/main.go: func main() { wire.Start(xyzfn.Xyz) };
//   - its entry in Functions below.
//
// TestFunctionsDirectoriesTemplateAndBuildersAgree fails until all four
// agree, TestBuildersWaitOnAWSOnce when a builder waits on AWS more than
// once, and TestMainsLinkOnlyTheirCapability (infra/coldstart) when a main
// imports more than wire and its builder package; make coldstart measures
// the result against a hello function.
package stack

import (
	"workbench/shared/stack/announcefn"
	"workbench/shared/stack/approvalfn"
	"workbench/shared/stack/billingfn"
	"workbench/shared/stack/calendarfn"
	"workbench/shared/stack/chatfn"
	"workbench/shared/stack/directoryfn"
	"workbench/shared/stack/identityfn"
	"workbench/shared/stack/importjobfn"
	"workbench/shared/stack/memberimportfn"
	"workbench/shared/stack/partnerfn"
	"workbench/shared/stack/platformfn"
	"workbench/shared/stack/realtimefn"
	"workbench/shared/stack/wire"
)

// Builder builds one function's handler. It runs once per cold start.
type Builder = wire.Builder

// Functions maps each function's template LogicalId to its Builder.
var Functions = map[string]Builder{
	"PlatformFunction": platformfn.Platform,
	// identity
	"VerifyCodeFunction": identityfn.VerifyCode,
	"LoginFunction":      identityfn.Login,
	// subscriptions
	"SubscriptionFunction": billingfn.Subscription,
	"ExpiryScanFunction":   billingfn.ExpiryScan,
	// directory
	"MembersFunction":   directoryfn.Members,
	"DirectoryFunction": directoryfn.Directory,
	// bulk import and export
	"MemberImportsFunction":   memberimportfn.MemberImports,
	"MemberImportJobFunction": importjobfn.MemberImportJob,
	// messages
	"ChatSendFunction":       chatfn.ChatSend,
	"ChatFunction":           chatfn.Chat,
	"RocketReminderFunction": chatfn.RocketReminder,
	"ChatFanoutFunction":     chatfn.ChatFanout,
	// workbench apps
	"ApprovalsFunction":        approvalfn.Approvals,
	"AnnouncementsFunction":    announcefn.Announcements,
	"CalendarFunction":         calendarfn.Calendar,
	"CalendarReminderFunction": calendarfn.CalendarReminder,
	// partners
	"PartnerFunction":     partnerfn.Partner,
	"MarketplaceFunction": partnerfn.Marketplace,
	"PartnerSyncFunction": partnerfn.PartnerSync,
	// realtime
	"RealtimeFunction": realtimefn.Realtime,
	"PushFunction":     realtimefn.Push,
}
