package directory

import (
	"strings"
	"testing"

	"workbench/shared/errs"
)

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"张三", "张三", true},
		{"  李四  ", "李四", true},
		{"Alice_Wang-2", "Alice_Wang-2", true},
		{"阿卜杜·热合曼", "阿卜杜·热合曼", true},
		{"王(小)明", "王(小)明", true},
		{strings.Repeat("张", 20), strings.Repeat("张", 20), true},
		{strings.Repeat("张", 21), "", false},
		{"", "", false},
		{"   ", "", false},
		{"张三😀", "", false},
		{"张 三", "", false},
		{"张三!", "", false},
		{"张三，", "", false},
		{"Ｚhang", "", false}, // full-width letter
	}
	for _, tt := range tests {
		got, err := NormalizeName("name", tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil {
			if e := errs.As(err); e.Kind != errs.Invalid || e.Field != "name" {
				t.Errorf("NormalizeName(%q) error %+v does not name the field", tt.in, e)
			}
		}
	}
}

func TestNormalizeMobile(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"13800138000", "13800138000", true},
		{"+8613800138000", "13800138000", true},
		{"8613800138000", "13800138000", true},
		{" 13800138000 ", "13800138000", true},
		{"1380013800", "", false},
		{"138001380000", "", false},
		{"23800138000", "", false},
		{"1380013800a", "", false},
		{"", "", false},
		{"+1 555 0100", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeMobile("mobile", tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeMobile(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestNormalizeAccount(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"ZhangSan", "zhangsan", true},
		{"zhang_san-1", "zhang_san-1", true},
		{strings.Repeat("a", 20), strings.Repeat("a", 20), true},
		{strings.Repeat("a", 21), "", false},
		{"", "", false},
		{"zhang san", "", false},
		{"张三", "", false},
		{"a.b", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeAccount("account", tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeAccount(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"a@Example.COM", "a@example.com", true},
		{"first.last+tag@corp.example.cn", "first.last+tag@corp.example.cn", true},
		{"Alice <a@example.com>", "", false},
		{"a@localhost", "", false},
		{"not-an-email", "", false},
		{"a@@example.com", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeEmail("email", tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestAccountFromName(t *testing.T) {
	tests := map[string]string{
		"张三":           "zhangsan",
		"李四2":          "lisi2",
		"Alice":        "alice",
		"王(小)明":        "wangxiaoming",
		"·-_":          "user",
		"欧阳娜娜欧阳娜娜欧阳娜娜": "ouyangnanaouyangnana",
	}
	for in, want := range tests {
		if got := AccountFromName(in); got != want {
			t.Errorf("AccountFromName(%q) = %q, want %q", in, got, want)
		}
		if _, err := NormalizeAccount("account", AccountFromName(in)); err != nil {
			t.Errorf("AccountFromName(%q) is not a valid account: %v", in, err)
		}
	}
}
