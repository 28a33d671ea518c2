// Package sms sends text messages to mainland mobiles through SNS.
package sms

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
)

// Brand opens the SMS that the platform itself sends (reminders, warnings,
// welcomes); messages about one tenant's account open with the tenant's
// name in the same brackets.
const Brand = "【Workbench】"

// Sender sends one SMS. Mobiles are 11-digit mainland numbers.
type Sender interface {
	Send(ctx context.Context, mobile, text string) error
}

// Publisher is the part of the SNS client that SNS uses.
type Publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNS sends SMS as transactional SNS publishes.
type SNS struct {
	Client   Publisher
	SenderID string // shown as the sender where carriers allow it
}

var _ Sender = (*SNS)(nil)

// Send publishes text to mobile in E.164 form (+86…).
func (s *SNS) Send(ctx context.Context, mobile, text string) error {
	attrs := map[string]types.MessageAttributeValue{
		"AWS.SNS.SMS.SMSType": {DataType: aws.String("String"), StringValue: aws.String("Transactional")},
	}
	if s.SenderID != "" {
		attrs["AWS.SNS.SMS.SenderID"] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s.SenderID)}
	}
	_, err := s.Client.Publish(ctx, &sns.PublishInput{
		PhoneNumber:       aws.String(E164(mobile)),
		Message:           aws.String(text),
		MessageAttributes: attrs,
	})
	if err != nil {
		return fmt.Errorf("sms: publish: %w", err)
	}
	return nil
}

// E164 returns a mainland mobile in E.164 form.
func E164(mobile string) string {
	if strings.HasPrefix(mobile, "+") {
		return mobile
	}
	return "+86" + mobile
}

// Mask hides all but the first 3 and last 4 digits: 138****8000. Use it
// wherever a mobile must be shown in a log or a record that is not the
// member's own.
func Mask(mobile string) string {
	if len(mobile) < 8 {
		return strings.Repeat("*", len(mobile))
	}
	return mobile[:3] + strings.Repeat("*", len(mobile)-7) + mobile[len(mobile)-4:]
}
