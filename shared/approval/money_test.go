package approval

import (
	"testing"

	"workbench/shared/errs"
)

func TestParseAmount(t *testing.T) {
	good := map[string]string{"12": "12.00", "12.3": "12.30", "0.01": "0.01", "999999999999.99": "999999999999.99", "100.10": "100.10"}
	for in, want := range good {
		a, err := ParseAmount("amount", in)
		if err != nil || a.String() != want {
			t.Errorf("ParseAmount(%q) = %v, %v; want %s", in, a, err, want)
		}
	}
	bad := map[string]string{"-1": "negative_amount", "-0.50": "negative_amount", "1.234": "invalid_amount", "abc": "invalid_amount",
		"": "invalid_amount", "1e3": "invalid_amount", "01.00": "invalid_amount", "0": "invalid_amount", "0.00": "invalid_amount",
		"1,000.00": "invalid_amount", " 1.00": "invalid_amount", "1.": "invalid_amount", "1000000000000.00": "invalid_amount"}
	for in, code := range bad {
		_, err := ParseAmount("items[0].amount", in)
		e := errs.As(err)
		if err == nil || e.Code != code || e.Field != "items[0].amount" {
			t.Errorf("ParseAmount(%q) = %v; want %s naming the field", in, err, code)
		}
	}
}

func TestAmountSumIsExact(t *testing.T) {
	// 0.1 + 0.2 is the classic float failure.
	a, _ := ParseAmount("a", "0.10")
	b, _ := ParseAmount("b", "0.20")
	if got := (a + b).String(); got != "0.30" {
		t.Fatalf("0.10 + 0.20 = %s", got)
	}
	var sum Amount
	for range 100 {
		x, _ := ParseAmount("x", "999999999999.99")
		sum += x
	}
	if got := sum.String(); got != "99999999999999.00" {
		t.Fatalf("sum = %s", got)
	}
}
