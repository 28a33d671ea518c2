package chat

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

type recorder struct {
	calls [][]string
	fail  bool
}

func (r *recorder) Touch(ctx context.Context, tenantID, memberID string, contactIDs []string, at time.Time) error {
	r.calls = append(r.calls, append([]string{tenantID, memberID}, contactIDs...))
	if r.fail {
		return errors.New("directory down")
	}
	return nil
}

func TestSendTouchesFrequentContacts(t *testing.T) {
	f := newFixture(t)
	rec := &recorder{}
	f.svc.Contacts = rec
	a, _ := f.member(t, "t1", "张三")
	b, _ := f.member(t, "t1", "李四")
	c, _ := f.member(t, "t1", "王五")
	dm := f.direct(t, a, b).ID
	f.send(t, a, dm, "hi")
	if len(rec.calls) != 1 || fmt.Sprint(rec.calls[0]) != fmt.Sprint([]string{"t1", a.MemberID, b.MemberID}) {
		t.Fatalf("touch calls: %v", rec.calls)
	}
	// A failing recorder does not fail the send.
	rec.fail = true
	if _, err := f.svc.Send(bg, b, dm, SendInput{Text: "still works"}); err != nil {
		t.Fatalf("send failed with the recorder: %v", err)
	}
	if _, err := f.svc.SendRocket(bg, a, RocketInput{MemberIDs: []string{b.MemberID, c.MemberID}, Text: "urgent"}); err != nil {
		t.Fatal(err)
	}
	last := rec.calls[len(rec.calls)-1]
	if fmt.Sprint(last) != fmt.Sprint([]string{"t1", a.MemberID, b.MemberID, c.MemberID}) {
		t.Fatalf("rocket touch: %v", last)
	}
}

func TestDisabledMembersAreRefused(t *testing.T) {
	f := newFixture(t)
	a, _ := f.member(t, "t1", "张三")
	b, _ := f.member(t, "t1", "李四")
	_, err := f.db.UpdateItem(bg, &dynamodb.UpdateItemInput{
		TableName: aws.String(f.codec.Table), Key: f.codec.Key("t1", b.MemberID),
		UpdateExpression:          aws.String("SET enabled = :f"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberBOOL{Value: false}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.Create(bg, a, CreateInput{MemberIDs: []string{b.MemberID}})
	wantErr(t, err, errs.Invalid, "unknown_member")
	_, err = f.svc.SendRocket(bg, a, RocketInput{MemberIDs: []string{b.MemberID}, Text: "x"})
	wantErr(t, err, errs.Invalid, "unknown_member")
}

func TestListPages(t *testing.T) {
	f := newFixture(t)
	me, _ := f.member(t, "t1", "张三")
	var convs []string
	for i := 0; i < 7; i++ {
		p, _ := f.member(t, "t1", fmt.Sprintf("同事%d", i))
		f.advance(time.Second)
		c := f.direct(t, me, p).ID
		f.send(t, p, c, fmt.Sprintf("hello %d", i))
		convs = append(convs, c)
	}
	if err := f.svc.SetPinned(bg, me, convs[2], true); err != nil {
		t.Fatal(err)
	}
	// Expected: the pinned one, then newest activity first.
	want := []string{convs[2], convs[6], convs[5], convs[4], convs[3], convs[1], convs[0]}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		page, next, err := f.svc.List(bg, me, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		if pages > 3 || len(page) > 3 {
			t.Fatalf("paging runs away: page %d has %d", pages, len(page))
		}
		for _, c := range page {
			got = append(got, c.ID)
			if c.Unread != 1 {
				t.Fatalf("%s unread %d", c.ID, c.Unread)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("order\n got %v\nwant %v", got, want)
	}
}
