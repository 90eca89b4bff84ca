package api

import (
	"net/url"
	"strings"
	"testing"

	"github.com/tallyhq/tally/ledger"
)

type walletOut struct {
	ID         string  `json:"id"`
	CustomerID string  `json:"customer_id"`
	ProfileID  string  `json:"profile_id"`
	Network    string  `json:"network"`
	Address    string  `json:"address"`
	Label      *string `json:"label"`
	CreatedAt  string  `json:"created_at"`
}

// TestWalletValidation runs one valid and several invalid addresses per network
// through the API; the rules themselves are tested in ledger/address_test.go.
func TestWalletValidation(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	cus := c.createCustomer("wallets@example.com")
	path := "/v1/customers/" + cus + "/wallets"
	tests := []struct {
		name, network, address string
		wantStatus             int
		wantCode, wantParam    string
		wantAddress            string
	}{
		{"ethereum checksum", "ethereum", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", 201, "", "", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"},
		{"base lowercase", "base", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359", 201, "", "", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"},
		{"polygon", "polygon", "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", 201, "", "", "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb"},
		{"ethereum bad checksum", "ethereum", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", 400, "invalid_address", "address", ""},
		{"ethereum short", "ethereum", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea", 400, "invalid_address", "address", ""},
		{"bitcoin p2pkh", "bitcoin", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", 201, "", "", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"},
		{"bitcoin bech32", "bitcoin", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", 201, "", "", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"},
		{"bitcoin bech32m", "bitcoin", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", 201, "", "", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"},
		{"bitcoin bad checksum", "bitcoin", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", 400, "invalid_address", "address", ""},
		{"bitcoin wrong variant", "bitcoin", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", 400, "invalid_address", "address", ""},
		{"tron", "tron", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", 201, "", "", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"},
		{"tron bad checksum", "tron", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u", 400, "invalid_address", "address", ""},
		{"tron given a bitcoin address", "tron", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", 400, "invalid_address", "address", ""},
		{"solana", "solana", "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T", 201, "", "", "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"},
		{"solana wrong length", "solana", "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T1", 400, "invalid_address", "address", ""},
		{"bank iban", "bank", "GB82 WEST 1234 5698 7654 32", 201, "", "", "GB82WEST12345698765432"},
		{"bank too short", "bank", "123", 400, "invalid_address", "address", ""},
		{"unknown network", "dogecoin", "DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L", 400, "network_unsupported", "network", ""},
		{"missing network", "", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", 400, "validation_failed", "network", ""},
		{"missing address", "tron", "", 400, "invalid_address", "address", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.on(t).do("POST", path, map[string]string{"network": tt.network, "address": tt.address, "label": tt.name}).must(t, tt.wantStatus)
			if tt.wantStatus != 201 {
				if r.Code() != tt.wantCode || r.Body.Error.Param != tt.wantParam {
					t.Fatalf("error = %s, want %s on %s", r.Raw, tt.wantCode, tt.wantParam)
				}
				return
			}
			var w walletOut
			r.Data(t, &w)
			if !ledger.ValidID(w.ID, ledger.PrefixWallet) || w.CustomerID != cus || w.ProfileID != cus || w.Network != tt.network ||
				w.Address != tt.wantAddress || w.Label == nil || *w.Label != tt.name || w.CreatedAt == "" {
				t.Fatalf("wallet = %+v", w)
			}
		})
	}
	r := c.do("POST", path, map[string]string{"network": "tron", "address": "bad", "label": strings.Repeat("l", 101)}).must(t, 400)
	if r.Body.Error.Param != "address" || r.Body.Error.Fields["label"] == "" {
		t.Fatalf("several invalid fields: %s", r.Raw)
	}
	if r := c.do("POST", path, map[string]string{"network": "tron", "adress": "x"}).must(t, 400); r.Code() != "unknown_field" {
		t.Fatalf("typo: %s", r.Raw)
	}
}

func TestWalletLifecycle(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	alice := c.createCustomer("alice@example.com")
	bob := c.createCustomer("bob@example.com")
	evm := "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"

	var w walletOut
	c.do("POST", "/v1/customers/"+alice+"/wallets", map[string]string{"network": "ethereum", "address": evm}).must(t, 201).Data(t, &w)
	if w.Label != nil {
		t.Fatalf("label = %q, want null", *w.Label)
	}

	t.Run("wallet_exists", func(t *testing.T) {
		c := c.on(t)
		// Same address in another spelling, for another customer of the business.
		for _, who := range []string{alice, bob} {
			r := c.do("POST", "/v1/customers/"+who+"/wallets", map[string]string{"network": "ethereum", "address": strings.ToLower(evm)}).must(t, 409)
			if r.Code() != "wallet_exists" || r.Body.Error.Param != "address" || !strings.Contains(r.Body.Error.Message, w.ID) {
				t.Fatalf("duplicate: %s", r.Raw)
			}
		}
		// The same address on another EVM network is another wallet.
		c.do("POST", "/v1/customers/"+bob+"/wallets", map[string]string{"network": "base", "address": evm}).must(t, 201)
		// Another business may register the same address.
		other := newClient(t, srv, ledger.ModeSandbox)
		oc := other.createCustomer("carol@example.com")
		other.do("POST", "/v1/customers/"+oc+"/wallets", map[string]string{"network": "ethereum", "address": evm}).must(t, 201)
	})

	t.Run("list pages", func(t *testing.T) {
		c := c.on(t)
		for _, a := range []string{"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"} {
			network := "tron"
			if a[0] == '1' {
				network = "bitcoin"
			}
			c.do("POST", "/v1/customers/"+alice+"/wallets", map[string]string{"network": network, "address": a}).must(t, 201)
		}
		var ids []string
		cursor := ""
		for {
			p := "/v1/customers/" + alice + "/wallets?limit=2"
			if cursor != "" {
				p += "&cursor=" + url.QueryEscape(cursor)
			}
			r := c.do("GET", p, nil).must(t, 200)
			var ws []walletOut
			r.Data(t, &ws)
			for _, x := range ws {
				if x.CustomerID != alice {
					t.Fatalf("wallet of another customer listed: %+v", x)
				}
				ids = append(ids, x.ID)
			}
			if !r.Body.Pagination.HasMore {
				break
			}
			cursor = *r.Body.Pagination.NextCursor
		}
		if len(ids) != 3 || ids[2] != w.ID {
			t.Fatalf("ids = %v, want 3 with %s last (oldest)", ids, w.ID)
		}
	})

	t.Run("delete", func(t *testing.T) {
		c := c.on(t)
		// Deleting through another customer's path is not found.
		c.do("DELETE", "/v1/customers/"+bob+"/wallets/"+w.ID, nil).must(t, 404)
		r := c.do("DELETE", "/v1/customers/"+alice+"/wallets/"+w.ID, nil).must(t, 204)
		if len(r.Raw) != 0 {
			t.Fatalf("204 with a body: %q", r.Raw)
		}
		if r := c.do("DELETE", "/v1/customers/"+alice+"/wallets/"+w.ID, nil).must(t, 404); r.Code() != "not_found" {
			t.Fatalf("second delete: %s", r.Raw)
		}
		c.do("DELETE", "/v1/customers/"+alice+"/wallets/WAL_nope", nil).must(t, 404)
		// The address is free again.
		c.do("POST", "/v1/customers/"+bob+"/wallets", map[string]string{"network": "ethereum", "address": evm}).must(t, 201)
	})

	t.Run("closed customer", func(t *testing.T) {
		c := c.on(t)
		dave := c.createCustomer("dave@example.com")
		var dw walletOut
		c.do("POST", "/v1/customers/"+dave+"/wallets", map[string]string{"network": "solana", "address": "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"}).must(t, 201).Data(t, &dw)
		c.do("DELETE", "/v1/customers/"+dave, nil).must(t, 200)
		r := c.do("POST", "/v1/customers/"+dave+"/wallets", map[string]string{"network": "tron", "address": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"}).must(t, 409)
		if r.Code() != "invalid_state" {
			t.Fatalf("wallet on closed customer: %s", r.Raw)
		}
		c.do("GET", "/v1/customers/"+dave+"/wallets", nil).must(t, 200)
		c.do("DELETE", "/v1/customers/"+dave+"/wallets/"+dw.ID, nil).must(t, 204)
	})

	t.Run("audited", func(t *testing.T) {
		var entries []struct {
			Method     string `json:"method"`
			Path       string `json:"path"`
			StatusCode int    `json:"status_code"`
		}
		c.on(t).do("GET", "/v1/customers/"+alice+"/audit-log", nil).must(t, 200).Data(t, &entries)
		var walletEntries int
		for _, e := range entries {
			if strings.Contains(e.Path, "/wallets") {
				walletEntries++
			}
		}
		// 1 create, 1 duplicate (409), 2 more creates, 1 delete, 1 second delete is 404 (not audited), WAL_nope 404.
		if walletEntries != 5 {
			t.Fatalf("wallet audit entries = %d, want 5: %+v", walletEntries, entries)
		}
	})

	t.Run("idempotent create", func(t *testing.T) {
		c := c.on(t)
		body := map[string]string{"network": "bitcoin", "address": "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"}
		first := c.do("POST", "/v1/customers/"+bob+"/wallets", body, "Idempotency-Key", "wal-1").must(t, 201)
		again := c.do("POST", "/v1/customers/"+bob+"/wallets", body, "Idempotency-Key", "wal-1").must(t, 201)
		if string(first.Raw) != string(again.Raw) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay = %s, want %s", again.Raw, first.Raw)
		}
	})
}
