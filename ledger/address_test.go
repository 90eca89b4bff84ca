package ledger

import (
	"strings"
	"testing"
	"time"
)

// TestValidateAddress checks every network's rule with real addresses (the
// published examples of BIP-173, BIP-350 and EIP-55, well-known contracts) and with
// the near misses an integrator makes: one character off, wrong case, wrong length,
// wrong prefix, wrong checksum variant.
func TestValidateAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		network  string
		address  string
		want     string // normalised form; "" means same as address
		wantCode Code
	}{
		// EVM: EIP-55 examples, lowercase, uppercase.
		{"evm checksum", "ethereum", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", ""},
		{"evm checksum 2", "ethereum", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359", ""},
		{"evm checksum base", "base", "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb", ""},
		{"evm checksum polygon", "polygon", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb", "0xd1220a0cf47c7b9be7a2e6ba89f429762e7b9adb", ""},
		{"evm lowercase", "ethereum", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "", ""},
		{"evm uppercase", "ethereum", "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", ""},
		{"evm surrounding spaces", "ethereum", " 0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed ", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", ""},
		{"evm bad checksum", "ethereum", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "", CodeInvalidAddress},
		{"evm short", "ethereum", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea", "", CodeInvalidAddress},
		{"evm long", "ethereum", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed00", "", CodeInvalidAddress},
		{"evm no prefix", "ethereum", "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed00", "", CodeInvalidAddress},
		{"evm capital X", "ethereum", "0X5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "", CodeInvalidAddress},
		{"evm non-hex", "base", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg", "", CodeInvalidAddress},

		// Bitcoin: base58check P2PKH / P2SH, bech32 v0, bech32m v1+, testnet forms.
		{"btc p2pkh genesis", "bitcoin", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "", ""},
		{"btc p2sh", "bitcoin", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "", ""},
		{"btc bech32 p2wpkh", "bitcoin", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "", ""},
		{"btc bech32 uppercase", "bitcoin", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", ""},
		{"btc bech32 p2wsh", "bitcoin", "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", "", ""},
		{"btc bech32m taproot", "bitcoin", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "", ""},
		{"btc bech32m v16", "bitcoin", "BC1SW50QGDZ25J", "bc1sw50qgdz25j", ""},
		{"btc bech32m v2", "bitcoin", "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "", ""},
		{"btc testnet p2pkh", "bitcoin", "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", "", ""},
		{"btc testnet p2sh", "bitcoin", "2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc", "", ""},
		{"btc testnet bech32", "bitcoin", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "", ""},
		{"btc testnet bech32m", "bitcoin", "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c", "", ""},
		{"btc bech32m 40-byte program", "bitcoin", "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y", "", ""},
		{"btc p2pkh bad checksum", "bitcoin", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "", CodeInvalidAddress},
		{"btc p2pkh bad char 0", "bitcoin", "1A1zP1eP5QGefi2DMPTfTL5SLmv7Div0Na", "", CodeInvalidAddress},
		{"btc tron address", "bitcoin", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "", CodeInvalidAddress},
		{"btc bech32 bad checksum", "bitcoin", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdp", "", CodeInvalidAddress},
		{"btc bech32 mixed case", "bitcoin", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdQ", "", CodeInvalidAddress},
		{"btc v0 with bech32m checksum", "bitcoin", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "", CodeInvalidAddress},
		{"btc v1 with bech32 checksum", "bitcoin", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "", CodeInvalidAddress},
		{"btc bech32 invalid char", "bitcoin", "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4", "", CodeInvalidAddress},
		{"btc wrong hrp", "bitcoin", "ltc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "", CodeInvalidAddress},
		{"btc empty", "bitcoin", "", "", CodeInvalidAddress},

		// Tron: base58check, 0x41 version.
		{"tron usdt contract", "tron", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "", ""},
		{"tron bad checksum", "tron", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u", "", CodeInvalidAddress},
		{"tron bitcoin address", "tron", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "", CodeInvalidAddress},
		{"tron short", "tron", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj", "", CodeInvalidAddress},
		{"tron evm", "tron", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "", CodeInvalidAddress},

		// Solana: base58 of 32 bytes.
		{"solana wallet", "solana", "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T", "", ""},
		{"solana system program", "solana", "11111111111111111111111111111111", "", ""},
		{"solana usdc mint", "solana", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "", ""},
		{"solana 31 bytes", "solana", "1111111111111111111111111111111", "", CodeInvalidAddress},
		{"solana 33 bytes", "solana", "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T1", "", CodeInvalidAddress},
		{"solana bad char", "solana", "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4l", "", CodeInvalidAddress},
		{"solana evm", "solana", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "", CodeInvalidAddress},

		// Bank: account numbers and IBANs.
		{"bank account number", "bank", "0123456789", "", ""},
		{"bank iban", "bank", "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432", ""},
		{"bank iban lowercase", "bank", "de89370400440532013000", "DE89370400440532013000", ""},
		{"bank iban bad check digits", "bank", "GB82WEST12345698765433", "", CodeInvalidAddress},
		{"bank too short", "bank", "12345", "", CodeInvalidAddress},
		{"bank too long", "bank", strings.Repeat("1", 35), "", CodeInvalidAddress},
		{"bank punctuation", "bank", "0123-456789", "", CodeInvalidAddress},

		{"unknown network", "dogecoin", "DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L", "", CodeNetworkUnsupported},
		{"network case matters", "Ethereum", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "", CodeNetworkUnsupported},
		{"too long", "solana", strings.Repeat("1", 200), "", CodeInvalidAddress},
		{"invalid utf8", "bank", "123456\xff", "", CodeInvalidAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateAddress(tt.network, tt.address)
			if code := codeOf(err); code != tt.wantCode {
				t.Fatalf("code = %q, want %q (err %v)", code, tt.wantCode, err)
			}
			if err != nil {
				wantParam := "address"
				if tt.wantCode == CodeNetworkUnsupported {
					wantParam = "network"
				}
				if p := err.(*Error).Param; p != wantParam {
					t.Fatalf("param = %q, want %q", p, wantParam)
				}
				return
			}
			want := tt.want
			if want == "" {
				want = tt.address
			}
			if got != want {
				t.Fatalf("normalised = %q, want %q", got, want)
			}
			// The stored form validates again to itself.
			if again, err := ValidateAddress(tt.network, got); err != nil || again != got {
				t.Fatalf("revalidate %q = %q, %v", got, again, err)
			}
		})
	}
}

func codeOf(err error) Code {
	if err == nil {
		return ""
	}
	return ErrorCode(err)
}

func TestEIP55(t *testing.T) {
	t.Parallel()
	// The checksummed spellings from EIP-55 round-trip from lowercase.
	for _, a := range []string{
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
		"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
		"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
	} {
		if got := "0x" + eip55(strings.ToLower(a[2:])); got != a {
			t.Errorf("eip55 = %s, want %s", got, a)
		}
	}
}

func TestNewWallet(t *testing.T) {
	t.Parallel()
	now := time.Now()
	w, err := NewWallet("BUS_X", "CUS_X", "ethereum", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", " cold ", now)
	if err != nil {
		t.Fatal(err)
	}
	if w.Network != "ethereum" || w.Address != "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed" || w.Label != "cold" || !ValidID(w.ID, PrefixWallet) {
		t.Fatalf("wallet = %+v", w)
	}
	_, err = NewWallet("BUS_X", "CUS_X", "tron", "nope", strings.Repeat("x", 101), now)
	e, _ := err.(*Error)
	if e == nil || e.Code != CodeInvalidAddress || e.Param != "address" || e.Fields["label"] == "" {
		t.Fatalf("err = %+v, want invalid_address on address with label in fields", err)
	}
	_, err = NewWallet("BUS_X", "CUS_X", "", "x", "", now)
	if e, _ := err.(*Error); e == nil || e.Code != CodeValidation || e.Param != "network" {
		t.Fatalf("err = %+v, want validation_failed on network", err)
	}
}
