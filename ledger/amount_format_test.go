package ledger

import (
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

// TestFormatAmountMatchesStringFixed: the int64 fast path of FormatAmount renders
// exactly what decimal's StringFixed does, across signs, scales, exponents and
// magnitudes on both sides of the 18-digit limit (where it hands over to
// StringFixed).
func TestFormatAmountMatchesStringFixed(t *testing.T) {
	check := func(d decimal.Decimal, scale int32) {
		t.Helper()
		if got, want := FormatAmount(d, scale), d.StringFixed(scale); got != want {
			t.Fatalf("FormatAmount(%s, %d) = %q, want %q", d, scale, got, want)
		}
	}
	for _, s := range []string{"0", "1", "-1", "0.5", "-0.5", "10.5", "0.01", "-0.01", "0.000000000000000001",
		"999999999999999999", "-999999999999999999", "9999999999999999.99", "10000000000000000.00",
		"9223372036854775807", "-9223372036854775808", "123456789012345678901234567890.123456789012345678",
		"1E+5", "1E+17", "1E+18", "5E+3", "0.10", "100", "1000000"} {
		for _, scale := range []int32{0, 1, 2, 6, 8, 18} {
			check(decimal.RequireFromString(s), scale)
		}
	}
	r := rand.New(rand.NewPCG(8, 8))
	for range 200_000 {
		coef := r.Int64N(1 << r.IntN(63))
		if r.IntN(2) == 0 {
			coef = -coef
		}
		d := decimal.New(coef, int32(r.IntN(26))-20) // 10^-20 … 10^5
		check(d, int32(r.IntN(19)))
	}
}

func BenchmarkFormatAmount(b *testing.B) {
	d := decimal.RequireFromString("1234567.89")
	b.Run("FormatAmount", func(b *testing.B) {
		for b.Loop() {
			_ = FormatAmount(d, 2)
		}
	})
	b.Run("StringFixed", func(b *testing.B) {
		for b.Loop() {
			_ = d.StringFixed(2)
		}
	})
}

// TestFormatAmountLargeExponents: exponents past what an int64 holds take the
// StringFixed path.
func TestFormatAmountLargeExponents(t *testing.T) {
	for _, d := range []decimal.Decimal{decimal.New(7, 30), decimal.New(0, 40), decimal.New(123, 17), decimal.New(1, -30)} {
		if got, want := FormatAmount(d, 2), d.StringFixed(2); got != want {
			t.Fatalf("FormatAmount(%s, 2) = %q, want %q", d, got, want)
		}
	}
}
