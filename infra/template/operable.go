package template

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Resource types the operability rules look at.
const (
	TypeLogGroup        = "AWS::Logs::LogGroup"
	TypeAlarm           = "AWS::CloudWatch::Alarm"
	TypeQueue           = "AWS::SQS::Queue"
	TypeTopic           = "AWS::SNS::Topic"
	TypeBackupPlan      = "AWS::Backup::BackupPlan"
	TypeBackupSelection = "AWS::Backup::BackupSelection"
	TypeBackupVault     = "AWS::Backup::BackupVault"
	TypeAPIStage        = "AWS::ApiGatewayV2::Stage"
)

// Log retention and backup lifetime the README promises.
const (
	DevLogRetentionDays  = "14"
	ProdLogRetentionDays = "365"
	BackupRetentionDays  = "35"
)

// CheckOperable returns what the template lacks to be run in production:
// every rule is stated over all resources of a type, so that a function,
// table, secret, queue or schedule added later is held to it too.
//
//   - functions: active tracing; JSON logs into a log group of their own
//     whose retention follows Stage (14 days dev, 365 prod); an errors and
//     a throttles alarm; when invoked asynchronously (a schedule, or
//     another function names it), an on-failure SQS destination;
//   - Schedule events: an EventBridge retry policy and an SQS dead-letter
//     queue; stream events: an on-failure destination;
//   - queues: an alarm on their depth; alarms: an SNS topic to tell;
//   - tables: retained on delete and replace, deletion protection in prod,
//     point-in-time recovery, a daily backup kept 35 days;
//   - secrets: retained on delete and replace;
//   - HTTP APIs and API Gateway v2 stages: access logs.
func (t *Template) CheckOperable() []error {
	c := &checker{t: t}
	for _, fn := range t.Functions {
		c.function(fn)
	}
	for _, tb := range t.Tables {
		c.table(tb.LogicalID)
	}
	for _, s := range t.Secrets {
		c.retained(s.LogicalID)
	}
	for _, id := range t.Order {
		switch r := t.Resources[id]; r.Type {
		case TypeQueue:
			c.queueAlarmed(id, id)
		case TypeAlarm:
			c.alarmNotifies(r)
		case TypeHTTPAPI:
			c.accessLogs(id, field(r.Properties, "AccessLogSettings"))
		case TypeAPIStage:
			c.accessLogs(id, field(r.Properties, "AccessLogSettings"))
		}
	}
	return c.errs
}

type checker struct {
	t    *Template
	errs []error
}

func (c *checker) fail(id, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s", id, fmt.Sprintf(format, args...)))
}

func (c *checker) function(fn Function) {
	id := fn.LogicalID
	props := c.t.Resources[id].Properties
	if fn.Tracing != "Active" {
		c.fail(id, "Tracing is %q, want Active (own or Globals)", fn.Tracing)
	}
	if fn.LogFormat != "JSON" {
		c.fail(id, "LoggingConfig.LogFormat is %q, want JSON", fn.LogFormat)
	}
	if lg, ok := c.refOfType(field(field(props, "LoggingConfig"), "LogGroup"), TypeLogGroup); !ok {
		c.fail(id, "LoggingConfig.LogGroup does not name an AWS::Logs::LogGroup of the template")
	} else {
		c.logGroup(id, lg)
	}
	for _, metric := range []string{"Errors", "Throttles"} {
		if !c.functionAlarm(id, metric) {
			c.fail(id, "no alarm on AWS/Lambda %s for this function", metric)
		}
	}
	async := c.invokedByOthers(id)
	for _, ev := range fn.Events {
		switch ev.Type {
		case "Schedule", "ScheduleV2":
			async = true
			c.schedule(id, ev)
		case "DynamoDB", "Kinesis":
			c.destination(id+" event "+ev.Name, field(field(ev.Properties, "DestinationConfig"), "OnFailure"))
		}
	}
	if async {
		c.destination(id+" EventInvokeConfig", field(field(field(props, "EventInvokeConfig"), "DestinationConfig"), "OnFailure"))
	}
}

// logGroup checks the retention of the log group lg, used by id.
func (c *checker) logGroup(id, lg string) {
	prod, dev, ok := c.byStage(field(c.t.Resources[lg].Properties, "RetentionInDays"))
	if !ok || prod != ProdLogRetentionDays || dev != DevLogRetentionDays {
		c.fail(id, "log group %s: RetentionInDays must be !If on Stage, %s days in prod and %s in dev", lg, ProdLogRetentionDays, DevLogRetentionDays)
	}
}

func (c *checker) accessLogs(id string, settings *yaml.Node) {
	lg, ok := c.refOfType(field(settings, "DestinationArn"), TypeLogGroup)
	if !ok || scalar(field(settings, "Format")) == "" {
		c.fail(id, "AccessLogSettings must send a Format to an AWS::Logs::LogGroup of the template")
		return
	}
	c.logGroup(id, lg)
}

// invokedByOthers reports whether another function's environment or
// policies name the function: it is then invoked asynchronously (the only
// way this codebase invokes a function) and needs an on-failure destination.
func (c *checker) invokedByOthers(id string) bool {
	for _, other := range c.t.Functions {
		if other.LogicalID == id {
			continue
		}
		var nodes []*yaml.Node
		for _, v := range other.Environment {
			nodes = append(nodes, v)
		}
		nodes = append(nodes, other.Policies...)
		for _, n := range nodes {
			for _, ref := range references(n) {
				if ref.LogicalID == id {
					return true
				}
			}
		}
	}
	return false
}

func (c *checker) schedule(id string, ev Event) {
	where := id + " event " + ev.Name
	if field(field(ev.Properties, "RetryPolicy"), "MaximumRetryAttempts") == nil {
		c.fail(where, "no RetryPolicy.MaximumRetryAttempts")
	}
	q, ok := c.refOfType(field(field(ev.Properties, "DeadLetterConfig"), "Arn"), TypeQueue)
	if !ok {
		c.fail(where, "DeadLetterConfig.Arn does not name an AWS::SQS::Queue of the template")
		return
	}
	c.queueAlarmed(where, q)
}

// destination checks an OnFailure destination: an SQS queue of the
// template, watched by an alarm.
func (c *checker) destination(where string, onFailure *yaml.Node) {
	if onFailure == nil {
		c.fail(where, "no on-failure destination")
		return
	}
	if typ := scalar(field(onFailure, "Type")); typ != "" && typ != "SQS" {
		c.fail(where, "on-failure destination is %s, want SQS", typ)
	}
	q, ok := c.refOfType(field(onFailure, "Destination"), TypeQueue)
	if !ok {
		c.fail(where, "on-failure destination does not name an AWS::SQS::Queue of the template")
		return
	}
	c.queueAlarmed(where, q)
}

func (c *checker) queueAlarmed(where, queue string) {
	for _, a := range c.alarms() {
		p := a.Properties
		if scalar(field(p, "Namespace")) == "AWS/SQS" && scalar(field(p, "MetricName")) == "ApproximateNumberOfMessagesVisible" &&
			c.dimensionRefers(p, "QueueName", queue) {
			return
		}
	}
	c.fail(where, "queue %s has no alarm on ApproximateNumberOfMessagesVisible", queue)
}

func (c *checker) functionAlarm(fn, metric string) bool {
	for _, a := range c.alarms() {
		p := a.Properties
		if scalar(field(p, "Namespace")) == "AWS/Lambda" && scalar(field(p, "MetricName")) == metric &&
			c.dimensionRefers(p, "FunctionName", fn) {
			return true
		}
	}
	return false
}

// dimensionRefers reports whether the alarm properties p have a dimension
// name whose value refers to the resource id.
func (c *checker) dimensionRefers(p *yaml.Node, name, id string) bool {
	for _, d := range items(field(p, "Dimensions")) {
		if scalar(field(d, "Name")) != name {
			continue
		}
		for _, ref := range references(field(d, "Value")) {
			if ref.LogicalID == id {
				return true
			}
		}
	}
	return false
}

func (c *checker) alarmNotifies(r *Resource) {
	for _, a := range items(field(r.Properties, "AlarmActions")) {
		if _, ok := c.refOfType(a, TypeTopic); ok {
			return
		}
	}
	c.fail(r.LogicalID, "AlarmActions name no AWS::SNS::Topic of the template")
}

func (c *checker) alarms() []*Resource {
	var out []*Resource
	for _, id := range c.t.Order {
		if r := c.t.Resources[id]; r.Type == TypeAlarm {
			out = append(out, r)
		}
	}
	return out
}

func (c *checker) retained(id string) {
	r := c.t.Resources[id]
	if r.DeletionPolicy != "Retain" || r.UpdateReplacePolicy != "Retain" {
		c.fail(id, "DeletionPolicy and UpdateReplacePolicy must be Retain (are %q, %q)", r.DeletionPolicy, r.UpdateReplacePolicy)
	}
}

func (c *checker) table(id string) {
	c.retained(id)
	p := c.t.Resources[id].Properties
	if prod, dev, ok := c.byStage(field(p, "DeletionProtectionEnabled")); !ok || prod != "true" || dev != "false" {
		c.fail(id, "DeletionProtectionEnabled must be !If on Stage, true in prod only")
	}
	if on, err := boolean(field(field(p, "PointInTimeRecoverySpecification"), "PointInTimeRecoveryEnabled")); err != nil || !on {
		c.fail(id, "point-in-time recovery is not enabled")
	}
	if !c.backedUp(id) {
		c.fail(id, "no AWS::Backup::BackupSelection lists it under a plan with a daily rule that keeps backups %s days in a vault of the template", BackupRetentionDays)
	}
	if field(field(p, "SSESpecification"), "KMSMasterKeyId") == nil {
		c.fail(id, "SSESpecification names no KMSMasterKeyId: the table stays under the AWS managed key when CustomerManagedKeys is true")
	}
}

// backedUp reports whether a backup selection lists the table (by its
// Arn) under a plan with a daily rule keeping backups 35 days in a vault
// of the template.
func (c *checker) backedUp(table string) bool {
	for _, id := range c.t.Order {
		r := c.t.Resources[id]
		if r.Type != TypeBackupSelection {
			continue
		}
		sel := field(r.Properties, "BackupSelection")
		listed := slices.ContainsFunc(items(field(sel, "Resources")), func(n *yaml.Node) bool {
			refs := references(n)
			return len(refs) == 1 && refs[0] == reference{table, "Arn"}
		})
		plan, ok := c.refOfType(field(r.Properties, "BackupPlanId"), TypeBackupPlan)
		if listed && ok && c.dailyPlan(plan) {
			return true
		}
	}
	return false
}

func (c *checker) dailyPlan(plan string) bool {
	p := field(c.t.Resources[plan].Properties, "BackupPlan")
	for _, rule := range items(field(p, "BackupPlanRule")) {
		_, vault := c.refOfType(field(rule, "TargetBackupVault"), TypeBackupVault)
		days := scalar(field(field(rule, "Lifecycle"), "DeleteAfterDays"))
		if vault && days == BackupRetentionDays && daily(scalar(field(rule, "ScheduleExpression"))) {
			return true
		}
	}
	return false
}

// daily reports whether a schedule expression fires once a day: a cron
// with fixed minute and hour and every day of the month, or rate(1 day).
func daily(expr string) bool {
	if expr == "rate(1 day)" {
		return true
	}
	inner, ok := strings.CutPrefix(expr, "cron(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return false
	}
	f := strings.Fields(strings.TrimSuffix(inner, ")"))
	return len(f) == 6 && !strings.ContainsAny(f[0]+f[1], "*/,-") && f[2] == "*" && f[3] == "*" && f[4] == "?"
}

// refOfType returns the logical id that n refers to (Ref, GetAtt or a Sub
// of one resource) when that resource has type typ.
func (c *checker) refOfType(n *yaml.Node, typ string) (string, bool) {
	if n == nil {
		return "", false
	}
	refs := references(n)
	if len(refs) != 1 {
		return "", false
	}
	r, ok := c.t.Resources[refs[0].LogicalID]
	if !ok || r.Type != typ {
		return "", false
	}
	return r.LogicalID, true
}

// byStage evaluates a value of the form !If [cond, a, b] where cond is
// !Equals of !Ref Stage and "prod" or "dev" (either order), and returns
// the value in prod and in dev.
func (c *checker) byStage(n *yaml.Node) (prod, dev string, ok bool) {
	fn, arg, isFn := Intrinsic(n)
	if !isFn || fn != "Fn::If" || len(items(arg)) != 3 {
		return "", "", false
	}
	args := items(arg)
	cond := c.t.Conditions[scalar(args[0])]
	efn, eargs, isFn := Intrinsic(cond)
	if !isFn || efn != "Fn::Equals" || len(items(eargs)) != 2 {
		return "", "", false
	}
	stage := ""
	for i, side := range items(eargs) {
		if rf, ra, ok := Intrinsic(side); ok && rf == "Ref" && ra.Value == "Stage" {
			stage = scalar(items(eargs)[1-i])
		}
	}
	then, els := scalar(args[1]), scalar(args[2])
	switch stage {
	case "prod":
		return then, els, true
	case "dev":
		return els, then, true
	}
	return "", "", false
}
