package ledger

import (
	"testing"
	"unicode/utf8"
)

// FuzzValidateAddress: no input panics; an accepted address is valid UTF-8,
// bounded, and its normalised form is accepted again unchanged (normalising is
// idempotent, so a stored wallet always re-validates). Refusals carry
// network_unsupported or invalid_address only. Seeds: testdata/fuzz/FuzzValidateAddress.
func FuzzValidateAddress(f *testing.F) {
	seeds := [][2]string{
		{"ethereum", "0x52908400098527886E0F7030069857D2E4169EE7"},
		{"ethereum", "0x52908400098527886e0f7030069857d2e4169ee7"},
		{"base", "0x8617E340B3D01FA5F11F306F4090FD50E238070D"},
		{"bitcoin", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"},
		{"bitcoin", "BC1SW50QGDZ25J"},
		{"bitcoin", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"},
		{"bitcoin", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"},
		{"tron", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"},
		{"solana", "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"},
		{"bank", "GB82 WEST 1234 5698 7654 32"},
		{"bank", "0123456789"},
		{"polygon", ""},
		{"dogecoin", "D8vFz4p1L37jdg47HXKtSHA5uYLYxbGgPD"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, network, address string) {
		norm, err := ValidateAddress(network, address)
		if err != nil {
			if c := ErrorCode(err); c != CodeNetworkUnsupported && c != CodeInvalidAddress {
				t.Fatalf("ValidateAddress(%q, %q): code %s", network, address, c)
			}
			return
		}
		if !utf8.ValidString(norm) || norm == "" || len(norm) > addressLenMax {
			t.Fatalf("ValidateAddress(%q, %q) = %q: not a storable address", network, address, norm)
		}
		again, err := ValidateAddress(network, norm)
		if err != nil || again != norm {
			t.Fatalf("normalised %q (from %q on %s) re-validates to %q, %v", norm, address, network, again, err)
		}
	})
}
