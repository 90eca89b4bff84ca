package ledger

import (
	"strings"

	"github.com/shopspring/decimal"
)

// Amount limits: an amount string is at most amountLengthMax bytes and its integer
// part at most amountIntDigitsMax digits, which keeps 10^30 wei (10^12 ETH) exact
// with room to spare and stops absurd inputs before they reach the database.
const (
	amountLengthMax    = 80
	amountIntDigitsMax = 40
)

// ParseAmount parses a plain decimal string ("10.5", "0.000000000000000001") for a
// currency of the given scale. It refuses exponents, signs other than a leading
// minus, separators and whitespace (validation_failed), more significant fraction
// places than scale (amount_precision: "10.500" has three places, even if the
// last is zero), and zero or negative values (amount_invalid).
func ParseAmount(s string, scale int32) (decimal.Decimal, error) {
	d, err := parseDecimal(s)
	if err != nil {
		return decimal.Decimal{}, err
	}
	if !d.IsPositive() {
		return decimal.Decimal{}, Errorf(CodeAmountInvalid, "amount must be greater than zero")
	}
	if dot := strings.IndexByte(s, '.'); dot >= 0 && int32(len(s)-dot-1) > scale {
		return decimal.Decimal{}, Errorf(CodeAmountPrecision, "amount has more than %d decimal places", scale)
	}
	return d, nil
}

// ParseDecimal parses a plain decimal string of any sign and scale (rates, fees).
func ParseDecimal(s string) (decimal.Decimal, error) { return parseDecimal(s) }

func parseDecimal(s string) (decimal.Decimal, error) {
	bad := Errorf(CodeAmountInvalid, "amount must be a plain decimal string such as \"10.50\"")
	if len(s) == 0 || len(s) > amountLengthMax {
		return decimal.Decimal{}, bad
	}
	i := 0
	if s[0] == '-' {
		i = 1
	}
	intDigits, fracDigits, dot := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if dot {
				fracDigits++
			} else {
				intDigits++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return decimal.Decimal{}, bad
		}
	}
	if intDigits == 0 || (dot && fracDigits == 0) || intDigits > amountIntDigitsMax {
		return decimal.Decimal{}, bad
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, bad
	}
	return d, nil
}

// FitsScale reports whether d has at most scale significant fraction digits.
func FitsScale(d decimal.Decimal, scale int32) bool {
	return d.Equal(d.Truncate(scale))
}

// FormatAmount renders d with exactly scale fraction digits ("10.50" for USD).
func FormatAmount(d decimal.Decimal, scale int32) string {
	return d.StringFixed(scale)
}

// RoundHalfUp rounds d half away from zero to scale places, the rule of API.md §11
// for fees. Amounts here are never negative, so half-up and half-away agree.
func RoundHalfUp(d decimal.Decimal, scale int32) decimal.Decimal {
	return d.Round(scale)
}

// Hundred is 100, for percentages.
var Hundred = decimal.NewFromInt(100)
