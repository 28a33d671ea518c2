package directory

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/keyring"
)

func formTexts(fs []form) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.text)
	}
	return out
}

func TestSearchForms(t *testing.T) {
	got := formTexts(searchForms("张三", "zhangsan", "13912345678"))
	for _, w := range []string{"张三", "zhangsan", "13912345678", "zs", "5678", "张", "三", "zh", "zha", "zhang", "zhangs"} {
		if !slices.Contains(got, w) {
			t.Errorf("forms of 张三 lack %q: %v", w, got)
		}
	}
	// Polyphonic characters index every reading.
	got = formTexts(searchForms("曾阿牛", "zenganiu", "13912345678"))
	for _, w := range []string{"zenganiu", "cenganiu", "zan", "can"} {
		if !slices.Contains(got, w) {
			t.Errorf("forms of 曾阿牛 lack %q: %v", w, got)
		}
	}
	for _, name := range []string{"张三", "欧阳娜娜", strings.Repeat("曾", 20), "Alice_Wang-Smith_Jr", "阿卜杜·热合曼"} {
		if n := len(searchForms(name, "acct", "13912345678")); n > MaxTokens {
			t.Errorf("%s: %d forms, more than %d", name, n, MaxTokens)
		}
	}
}

func TestLookupsAreIndexedForms(t *testing.T) {
	// Every lookup of a query that matches a member must be one of the
	// member's forms: otherwise search would miss it.
	members := []Member{
		{Name: "张三丰", Account: "zhangsanfeng", Mobile: "13912345678"},
		{Name: "欧阳娜娜", Account: "ouyangnana", Mobile: "13800001111"},
		{Name: "Alice_Wang", Account: "alice", Mobile: "13700002222"},
	}
	queries := []string{"zs", "zsf", "zhangsanfeng", "zhangsanf", "张", "三丰", "张三丰", "5678", "45678", "12345678", "13912345678",
		"oynn", "ouyangnana", "欧阳娜娜", "阳娜娜", "alice_w", "alice", "al", "lic"}
	for _, m := range members {
		forms := formTexts(searchForms(m.Name, m.Account, m.Mobile))
		for _, q := range queries {
			if rank(m, q) < 0 {
				continue
			}
			found := false
			for _, l := range lookups(q) {
				found = found || slices.Contains(forms, l)
			}
			if !found {
				t.Errorf("%s matches %q but no lookup %v is among its forms", m.Name, q, lookups(q))
			}
		}
	}
}

func TestRank(t *testing.T) {
	m := Member{Name: "张三", Account: "zhangsan", Mobile: "13912345678"}
	tests := map[string]int{
		"张三": RankExact, "zhangsan": RankExact, "zs": RankExact, "13912345678": RankExact,
		"张": RankPrefix, "zhang": RankPrefix, "三": RankSubstring, "5678": RankSubstring,
		"李": -1, "567": -1, "zx": -1,
	}
	for q, want := range tests {
		if got := rank(m, q); got != want {
			t.Errorf("rank(张三, %q) = %d, want %d", q, got, want)
		}
	}
}

// TestTokenItemSize states the cost of search per member.
func TestTokenItemSize(t *testing.T) {
	keys, _ := keyring.New(map[string][]byte{"k1": make([]byte, 32)}, "k1")
	index, _ := keyring.NewIndex(strings.Repeat("x", 32))
	c := &Codec{Table: "t", Keys: keys, Index: index}
	m := Member{ID: "01m8e1c5685j44xqm6deqxg8tx", TenantID: "01m8e1c56ttebqd4jxn2wg98qy", Name: "张三", Account: "zhangsan", Mobile: "13912345678", Role: RoleMember, Enabled: true}
	toks := c.tokens(m)
	size := 0
	for _, tok := range toks {
		item := c.tokenItem(m.TenantID, m.ID, tok)
		for k, v := range item {
			var s string
			switch v := v.(type) {
			case *types.AttributeValueMemberS:
				s = v.Value
			case *types.AttributeValueMemberN:
				s = v.Value
			default:
				t.Fatalf("%s: %T", k, v)
			}
			size += len(k) + len(s) + 1
		}
	}
	t.Logf("张三: %d token items, about %d bytes in all (%d each)", len(toks), size, size/len(toks))
	if len(toks) > MaxTokens || size/len(toks) > 120 {
		t.Fatalf("%d token items of %d bytes", len(toks), size/len(toks))
	}
}
