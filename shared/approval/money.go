package approval

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"workbench/shared/errs"
)

// Amount is a sum of money in hundredths of the currency unit (fen for CNY).
// Money is never a float: amounts arrive as decimal strings, are kept as
// integers and are summed exactly.
type Amount int64

// MaxAmount bounds one amount (and keeps any sum of MaxItems amounts far from
// overflowing int64): 999,999,999,999.99.
const MaxAmount Amount = 99_999_999_999_999

var amountPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$`)

// ParseAmount reads a positive decimal string with at most 2 places, e.g.
// "12", "12.3", "12.30". Signs, exponents, separators and more places are
// refused.
func ParseAmount(field, s string) (Amount, error) {
	if !amountPattern.MatchString(s) {
		if strings.HasPrefix(strings.TrimSpace(s), "-") {
			return 0, errs.Invalidf(field, "negative_amount", "%s must not be negative", field)
		}
		return 0, errs.Invalidf(field, "invalid_amount", "%s must be a decimal string with at most 2 places, e.g. \"12.50\"", field)
	}
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "00")[:2]
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, errs.Invalidf(field, "invalid_amount", "%s is not a valid amount", field)
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	a := Amount(w*100 + f)
	if a <= 0 {
		return 0, errs.Invalidf(field, "invalid_amount", "%s must be greater than zero", field)
	}
	if a > MaxAmount {
		return 0, errs.Invalidf(field, "invalid_amount", "%s is too large", field)
	}
	return a, nil
}

// String formats a with exactly 2 places.
func (a Amount) String() string {
	sign := ""
	if a < 0 {
		sign, a = "-", -a
	}
	return fmt.Sprintf("%s%d.%02d", sign, int64(a)/100, int64(a)%100)
}
