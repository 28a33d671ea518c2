package chat

import (
	"strings"
	"testing"
	"unicode/utf8"

	"workbench/shared/errs"
)

func TestNormalizeText(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, code string
	}{
		{"plain", "  hello  ", "hello", ""},
		{"newline kept", "a\nb", "a\nb", ""},
		{"crlf", "a\r\nb", "a\nb", ""},
		{"tab", "a\tb", "a b", ""},
		{"chinese", "你好", "你好", ""},
		{"empty", "", "", "empty_text"},
		{"blank", " \n\t ", "", "empty_text"},
		{"control", "a\x07b", "", "invalid_text"},
		{"nul", "a\x00b", "", "invalid_text"},
		{"escape", "a\x1b[31mb", "", "invalid_text"},
		{"c1 control", "a\u0085b", "", "invalid_text"},
		{"bidi override", "会议\u202e反转", "", "invalid_text"},
		{"bidi isolate", "a\u2067b", "", "invalid_text"},
		{"invalid utf-8", "a\xffb", "", "invalid_text"},
		{"max", strings.Repeat("字", MaxTextRunes), strings.Repeat("字", MaxTextRunes), ""},
		{"too long", strings.Repeat("字", MaxTextRunes+1), "", "text_too_long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeText("text", tc.in)
			if tc.code != "" {
				if !errs.Is(err, tc.code) || errs.As(err).Field != "text" || errs.KindOf(err) != errs.Invalid {
					t.Fatalf("NormalizeText(%q) = %v, want %s on field text", tc.in, err, tc.code)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeText(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestNormalizeGroupName(t *testing.T) {
	if n, err := NormalizeGroupName("name", " 生产部 "); err != nil || n != "生产部" {
		t.Fatalf("got %q, %v", n, err)
	}
	for _, bad := range []string{"", "  ", strings.Repeat("a", 31)} {
		if _, err := NormalizeGroupName("name", bad); !errs.Is(err, "invalid_group_name") {
			t.Errorf("NormalizeGroupName(%q) = %v, want invalid_group_name", bad, err)
		}
	}
	// The text rules of shared/text: one line, no controls, no bidi.
	for _, bad := range []string{"a\x01b", "a\nb", "a\tb", "生产\u202e部", "a\u2066b", "a\xffb"} {
		if _, err := NormalizeGroupName("name", bad); !errs.Is(err, "invalid_text") || errs.As(err).Field != "name" {
			t.Errorf("NormalizeGroupName(%q) = %v, want invalid_text", bad, err)
		}
	}
	if _, err := NormalizeGroupName("name", strings.Repeat("群", 30)); err != nil {
		t.Errorf("30 characters refused: %v", err)
	}
}

func TestNormalizeMemberIDs(t *testing.T) {
	got, err := NormalizeMemberIDs("memberIds", []string{"a", "me", "b"}, "me", true, 10)
	if err != nil || strings.Join(got, ",") != "a,b" {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := NormalizeMemberIDs("memberIds", []string{"a", "me"}, "me", false, 10); !errs.Is(err, "self_not_allowed") {
		t.Errorf("self: %v", err)
	}
	if _, err := NormalizeMemberIDs("memberIds", []string{"a", "b", "a"}, "me", true, 10); !errs.Is(err, "duplicate_member") {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := NormalizeMemberIDs("memberIds", []string{"a", ""}, "me", true, 10); !errs.Is(err, "invalid_member_id") {
		t.Errorf("blank: %v", err)
	}
	many := make([]string, 500)
	for i := range many {
		many[i] = strings.Repeat("x", 3) + string(rune('A'+i%26)) + strings.Repeat("y", i/26)
	}
	if _, err := NormalizeMemberIDs("memberIds", many, "me", true, MaxGroupMembers-1); !errs.Is(err, "too_many_members") {
		t.Errorf("500 others: %v", err)
	}
	if _, err := NormalizeMemberIDs("memberIds", many[:499], "me", true, MaxGroupMembers-1); err != nil {
		t.Errorf("499 others: %v", err)
	}
}

func TestMessageID(t *testing.T) {
	conv := DirectID("t1", "b", "a")
	if conv != DirectID("t1", "a", "b") {
		t.Fatal("DirectID depends on the order of the pair")
	}
	if conv == DirectID("t2", "a", "b") {
		t.Fatal("DirectID does not depend on the tenant")
	}
	id := MessageID(conv, 42)
	c, seq, ok := ParseMessageID(id)
	if !ok || c != conv || seq != 42 {
		t.Fatalf("ParseMessageID(%q) = %q, %d, %v", id, c, seq, ok)
	}
	for _, bad := range []string{"", "x-1", conv, conv + "-0", conv + "-01", conv + "-1x", conv + "--1", strings.ToUpper(conv) + "-1"} {
		if _, _, ok := ParseMessageID(bad); ok {
			t.Errorf("ParseMessageID(%q) accepted", bad)
		}
	}
}

func TestSnippet(t *testing.T) {
	if s := Snippet("short  text\nhere"); s != "short text here" {
		t.Errorf("got %q", s)
	}
	long := strings.Repeat("紧急", 100)
	s := Snippet(long)
	if utf8.RuneCountInString(s) > SnippetRunes || !strings.HasSuffix(s, "…") || s == long {
		t.Errorf("Snippet of a long text = %q (%d runes)", s, utf8.RuneCountInString(s))
	}
	exact := strings.Repeat("a", SnippetRunes)
	if Snippet(exact) != exact {
		t.Error("a 60-character text was cut")
	}
	text := ReminderText("张三", long)
	if strings.Contains(text, long) || !strings.Contains(text, "张三") {
		t.Errorf("ReminderText = %q", text)
	}
}

func TestNormalizeClientID(t *testing.T) {
	if id, err := NormalizeClientID("clientMessageId", " abc-123 "); err != nil || id != "abc-123" {
		t.Fatalf("got %q, %v", id, err)
	}
	for _, bad := range []string{"a b", "é", strings.Repeat("a", 65)} {
		if _, err := NormalizeClientID("clientMessageId", bad); !errs.Is(err, "invalid_client_message_id") {
			t.Errorf("NormalizeClientID(%q) = %v", bad, err)
		}
	}
}
