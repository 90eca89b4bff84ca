package ledger

import (
	"strconv"
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
//
// An amount that fits in 18 digits at its currency's scale (every fiat balance,
// and crypto below 10^(18-scale)) is formatted from its int64 coefficient:
// decimal's StringFixed rounds and then formats through math/big, and that was
// half of what rendering GET /v1/balances cost (issue 8). Anything else, and any d
// with more fraction digits than scale (which StringFixed rounds), takes
// StringFixed. TestFormatAmountMatchesStringFixed compares the two.
func FormatAmount(d decimal.Decimal, scale int32) string {
	exp := d.Exponent()
	if scale < 0 || scale > 18 || exp < -scale || d.NumDigits()+int(exp)+int(scale) > 18 {
		return d.StringFixed(scale)
	}
	units := d.CoefficientInt64() * pow10[exp+scale] // d in units of 10^-scale; fits: at most 18 digits
	var buf [24]byte
	b := buf[:0]
	if units < 0 {
		b = append(b, '-')
		units = -units
	}
	if scale == 0 {
		return string(strconv.AppendInt(b, units, 10))
	}
	b = strconv.AppendInt(b, units/pow10[scale], 10)
	b = append(b, '.')
	frac := units % pow10[scale]
	for p := pow10[scale] / 10; p > frac && p > 1; p /= 10 { // leading zeros of the fraction
		b = append(b, '0')
	}
	return string(strconv.AppendInt(b, frac, 10))
}

// pow10[i] is 10^i, for i up to 18 (the largest power of ten in an int64).
var pow10 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// RoundHalfUp rounds d half away from zero to scale places, the rule of API.md §11
// for fees. Amounts here are never negative, so half-up and half-away agree.
func RoundHalfUp(d decimal.Decimal, scale int32) decimal.Decimal {
	return d.Round(scale)
}

// Hundred is 100, for percentages.
var Hundred = decimal.NewFromInt(100)
