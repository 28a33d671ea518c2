package sms

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

func TestMaskAndE164(t *testing.T) {
	for in, want := range map[string]string{"13800138000": "138****8000", "1234567": "*******", "": ""} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
	if E164("13800138000") != "+8613800138000" || E164("+8613800138000") != "+8613800138000" {
		t.Error("E164")
	}
}

type publisher struct {
	in  *sns.PublishInput
	err error
}

func (p *publisher) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	p.in = in
	return &sns.PublishOutput{}, p.err
}

func TestSendPublishesTransactionalSMS(t *testing.T) {
	p := &publisher{}
	s := &SNS{Client: p, SenderID: "Workbench"}
	if err := s.Send(context.Background(), "13800138000", "hello"); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(p.in.PhoneNumber) != "+8613800138000" || aws.ToString(p.in.Message) != "hello" {
		t.Errorf("published %+v", p.in)
	}
	if aws.ToString(p.in.MessageAttributes["AWS.SNS.SMS.SMSType"].StringValue) != "Transactional" ||
		aws.ToString(p.in.MessageAttributes["AWS.SNS.SMS.SenderID"].StringValue) != "Workbench" {
		t.Errorf("attributes %+v", p.in.MessageAttributes)
	}
	p.err = errors.New("throttled")
	if err := s.Send(context.Background(), "13800138000", "x"); err == nil {
		t.Error("a failed publish is not an error")
	}
}
