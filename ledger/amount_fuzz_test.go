package ledger

import (
	"strings"
	"testing"
)

// FuzzParseAmount: any string at any scale either parses to a positive amount
// that fits the scale and survives a format → parse round trip, or fails with one
// of the amount codes; exponents, signs other than '-', separators and
// whitespace never parse. Seeds: testdata/fuzz/FuzzParseAmount.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"10.5", "0.000000000000000001", "1e3", "+1", "-1", "0", "1,000", " 1", "1.", ".5",
		"00012.3400", "999999999999999999999999999999999999999999", "1.0000000000000000000000001", "٣", "NaN", "Infinity"} {
		f.Add(s, uint8(2))
		f.Add(s, uint8(18))
	}
	f.Fuzz(func(t *testing.T, s string, scale uint8) {
		sc := int32(scale % 31)
		d, err := ParseAmount(s, sc)
		if err != nil {
			switch ErrorCode(err) {
			case CodeAmountInvalid, CodeAmountPrecision, CodeValidation:
			default:
				t.Fatalf("ParseAmount(%q, %d): unexpected code %s (%v)", s, sc, ErrorCode(err), err)
			}
			return
		}
		if strings.ContainsAny(s, "eE+ ,_\t\n") {
			t.Fatalf("ParseAmount(%q) accepted a forbidden character: %s", s, d)
		}
		if !d.IsPositive() || !FitsScale(d, sc) {
			t.Fatalf("ParseAmount(%q, %d) = %s: not positive or beyond scale", s, sc, d)
		}
		back, err := ParseAmount(FormatAmount(d, sc), sc)
		if err != nil || !back.Equal(d) {
			t.Fatalf("round trip of %q at scale %d: %s → %q → %s, %v", s, sc, d, FormatAmount(d, sc), back, err)
		}
	})
}
