package ledger

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in       string
		scale    int32
		want     string
		wantCode Code
	}{
		{"10.5", 2, "10.5", ""},
		{"10.50", 2, "10.5", ""},
		{"10.500", 2, "", CodeAmountPrecision}, // three places, even if the last is zero
		{"0.000000000000000001", 18, "0.000000000000000001", ""},
		{"1000000000000.000000000000000001", 18, "1000000000000.000000000000000001", ""}, // 10^30 wei + 1, exact
		{"10.123", 2, "", CodeAmountPrecision},
		{"0.000000001", 8, "", CodeAmountPrecision},
		{"0", 2, "", CodeAmountInvalid},
		{"0.00", 2, "", CodeAmountInvalid},
		{"-1", 2, "", CodeAmountInvalid},
		{"1e3", 2, "", CodeAmountInvalid},
		{"+1", 2, "", CodeAmountInvalid},
		{"1,000", 2, "", CodeAmountInvalid},
		{" 1", 2, "", CodeAmountInvalid},
		{".5", 2, "", CodeAmountInvalid},
		{"5.", 2, "", CodeAmountInvalid},
		{"", 2, "", CodeAmountInvalid},
		{"NaN", 2, "", CodeAmountInvalid},
		{"0x10", 2, "", CodeAmountInvalid},
		{"1.2.3", 2, "", CodeAmountInvalid},
	}
	for _, tt := range tests {
		got, err := ParseAmount(tt.in, tt.scale)
		if ErrorCode(err) != tt.wantCode && !(tt.wantCode == "" && err == nil) {
			t.Fatalf("ParseAmount(%q, %d) err = %v, want code %q", tt.in, tt.scale, err, tt.wantCode)
		}
		if tt.wantCode == "" && !got.Equal(d(tt.want)) {
			t.Fatalf("ParseAmount(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := FormatAmount(d("10.5"), 2); got != "10.50" {
		t.Fatalf("FormatAmount = %q, want 10.50", got)
	}
}

func TestFeeRoundsHalfUp(t *testing.T) {
	f := Fee{Fixed: d("0.10"), Percent: d("1.5")}
	// 0.10 + 3.33 × 1.5 / 100 = 0.14995 → 0.15
	if got := f.For(d("3.33"), 2); !got.Equal(d("0.15")) {
		t.Fatalf("fee = %s, want 0.15", got)
	}
	// 0.10 + 3.30 × 1.5 / 100 = 0.1495 → 0.15 (half up)
	if got := f.For(d("3.30"), 2); !got.Equal(d("0.15")) {
		t.Fatalf("fee = %s, want 0.15", got)
	}
	if got := (Fee{Fixed: decimal.Zero, Percent: decimal.Zero}).For(d("100"), 2); !got.IsZero() {
		t.Fatalf("no fee = %s", got)
	}
}

func TestPriceQuote(t *testing.T) {
	btc := Currency{Code: "BTC", Scale: 8}
	usdt := Currency{Code: "USDT", Scale: 6}
	r := Rate{Base: "BTC", Quote: "USDT", Rate: d("65000"), SpreadPercent: d("1")}
	src := d("0.5")
	q, err := PriceQuote(r, btc, usdt, &src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !q.TargetAmount.Equal(d("32175")) || !q.Rate.Equal(d("64350")) || !q.Fee.Equal(d("325")) {
		t.Fatalf("quote = %+v", q)
	}
	tgt := d("0.01")
	q, err = PriceQuote(r, usdt, btc, nil, &tgt)
	if err != nil {
		t.Fatal(err)
	}
	// Buying 0.01 BTC at (1/65000)×0.99 BTC per USDT costs 656.565657 USDT (rounded up).
	if !q.SourceAmount.Equal(d("656.565657")) {
		t.Fatalf("source = %s", q.SourceAmount)
	}
	if q.SourceAmount.Mul(q.Rate).LessThan(q.TargetAmount) {
		t.Fatalf("rounding favours the customer: %s × %s < %s", q.SourceAmount, q.Rate, q.TargetAmount)
	}
	if _, err := PriceQuote(r, btc, Currency{Code: "ETH", Scale: 18}, &src, nil); ErrorCode(err) != CodeCurrencyUnsupported {
		t.Fatalf("unknown pair: %v", err)
	}
}

// TestApplyProperties drives random deposits, holds, posts, voids, transfers and
// conversions through the pure model and checks the invariants after each step:
// per-currency sums zero, no guarded account below zero, refused entries change
// nothing.
func TestApplyProperties(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	for run := 0; run < 50; run++ {
		checkApplyRun(t, rng, 300)
	}
}

func checkApplyRun(t *testing.T, rng *rand.Rand, steps int) {
	t.Helper()
	biz := "BUS_X"
	profiles := []string{biz, "CUS_A", "CUS_B", "CUS_C"}
	curs := []string{"USD", "BTC"}
	bal := map[Account]Balance{}
	var holds []Entry
	ended := map[string]bool{}
	amount := func() decimal.Decimal { return decimal.New(int64(rng.Intn(5000)+1), -2) }
	for i := 0; i < steps; i++ {
		cur := curs[rng.Intn(len(curs))]
		p := profiles[rng.Intn(len(profiles))]
		q := profiles[rng.Intn(len(profiles))]
		e := Entry{ID: NewID(PrefixEntry), Business: biz, Phase: PhasePosted}
		switch op := rng.Intn(6); op {
		case 0: // deposit
			e.Postings = []Posting{{Debit: BusinessAccount(biz, SettlementPurpose("x"), cur), Credit: ProfileAccount(p, cur), Amount: amount()}}
		case 1: // payout hold with fee
			e.Phase = PhasePending
			e.Postings = []Posting{{Debit: ProfileAccount(p, cur), Credit: BusinessAccount(biz, SettlementPurpose("x"), cur), Amount: amount()},
				{Debit: ProfileAccount(p, cur), Credit: BusinessAccount(biz, PurposeFees, cur), Amount: amount()}}
		case 2, 3: // post or void an earlier hold (possibly again)
			if len(holds) == 0 {
				continue
			}
			h := holds[rng.Intn(len(holds))]
			e.Phase, e.PendingID, e.Postings = PhasePostPending, h.ID, h.Postings
			if op == 3 {
				e.Phase = PhaseVoidPending
			}
			if ended[h.ID] {
				// A hold ends once: the store refuses it by hold status; the model by
				// pending sums, which is only sure when nothing else is pending there.
				continue
			}
		case 4: // transfer
			if p == q {
				continue
			}
			e.Postings = []Posting{{Debit: ProfileAccount(p, cur), Credit: ProfileAccount(q, cur), Amount: amount()}}
		case 5: // conversion through fx
			other := curs[(indexOf(curs, cur)+1)%len(curs)]
			e.Postings = []Posting{{Debit: ProfileAccount(p, cur), Credit: BusinessAccount(biz, PurposeFX, cur), Amount: amount()},
				{Debit: BusinessAccount(biz, PurposeFX, other), Credit: ProfileAccount(p, other), Amount: amount()}}
		}
		next, err := Apply(bal, e)
		if err != nil {
			if c := ErrorCode(err); c != CodeInsufficientFunds && c != CodeInvalidState {
				t.Fatalf("step %d: unexpected %v", i, err)
			}
			if len(next) != len(bal) {
				t.Fatalf("step %d: refused entry changed the balances", i)
			}
			for k, v := range bal {
				if next[k] != v {
					t.Fatalf("step %d: refused entry changed %s", i, k)
				}
			}
			continue
		}
		bal = next
		if e.Phase == PhasePending {
			holds = append(holds, e)
		}
		if e.PendingID != "" {
			ended[e.PendingID] = true
		}
		sums := map[string]Balance{}
		for a, b := range bal {
			if a.Guarded() && b.Available().IsNegative() {
				t.Fatalf("step %d: %s available %s", i, a, b.Available())
			}
			sums[a.Currency] = sums[a.Currency].Add(Balance{CreditsPosted: b.CreditsPosted.Sub(b.DebitsPosted), CreditsPending: b.CreditsPending.Sub(b.DebitsPending)})
		}
		for c, s := range sums {
			if !s.CreditsPosted.IsZero() || !s.CreditsPending.IsZero() {
				t.Fatalf("step %d: %s sums to %s posted, %s pending", i, c, s.CreditsPosted, s.CreditsPending)
			}
		}
	}
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

func TestValidateEntry(t *testing.T) {
	a, b := ProfileAccount("CUS_A", "USD"), ProfileAccount("CUS_B", "USD")
	bad := []Entry{
		{Phase: PhasePosted},
		{Phase: PhasePosted, Postings: []Posting{{Debit: a, Credit: b, Amount: d("0")}}},
		{Phase: PhasePosted, Postings: []Posting{{Debit: a, Credit: ProfileAccount("CUS_B", "EUR"), Amount: d("1")}}},
		{Phase: PhasePosted, Postings: []Posting{{Debit: a, Credit: a, Amount: d("1")}}},
		{Phase: PhasePostPending, Postings: []Posting{{Debit: a, Credit: b, Amount: d("1")}}},
		{Phase: "weird", Postings: []Posting{{Debit: a, Credit: b, Amount: d("1")}}},
	}
	for i, e := range bad {
		if err := e.Validate(); err == nil {
			t.Fatalf("entry %d validated", i)
		}
	}
}

// TestLaneShard: the shards of lane l of n are ≡ l mod n, and together the lanes
// use every shard.
func TestLaneShard(t *testing.T) {
	for lanes := 1; lanes <= 4; lanes++ {
		used := map[int16]bool{}
		for lane := range lanes {
			for range 2000 { // a shard missed by chance: < 64·(63/64)^2000 ≈ 1e-12
				s := LaneShard(lane, lanes)
				if s < 0 || s >= hotShards || int(s)%lanes != lane {
					t.Fatalf("lane %d of %d: shard %d", lane, lanes, s)
				}
				used[s] = true
			}
		}
		if len(used) != hotShards {
			t.Fatalf("%d lanes: the lanes used %d of %d shards", lanes, len(used), hotShards)
		}
	}
}

// TestEntryIDOnShard: an id made for a shard puts every hot account of its
// entry on that shard, guarded accounts stay on shard 0, and ids stay unique.
func TestEntryIDOnShard(t *testing.T) {
	fees := BusinessAccount("BUS_X", PurposeFees, "USD")
	settlement := BusinessAccount("BUS_X", SettlementPurpose("bank"), "USD")
	profile := ProfileAccount("CUS_X", "USD")
	seen := map[string]bool{}
	for _, shard := range []int16{0, 1, 31, 63, 64 + 5, -3} {
		for range 50 {
			id := EntryIDOnShard(shard)
			if seen[id] || !strings.HasPrefix(id, PrefixEntry) {
				t.Fatalf("id %q repeated or not an entry id", id)
			}
			seen[id] = true
			want := (shard%hotShards + hotShards) % hotShards
			if fees.Shard(id) != want || settlement.Shard(id) != want || profile.Shard(id) != 0 {
				t.Fatalf("shard %d: id %s puts fees on %d, settlement on %d, the profile on %d",
					shard, id, fees.Shard(id), settlement.Shard(id), profile.Shard(id))
			}
		}
	}
}

func BenchmarkEntryIDOnShard(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		EntryIDOnShard(int16(i))
	}
}

// TestAddSubAsDecimal checks the shortcuts of Balance's arithmetic against
// decimal's own Add and Sub for every pair of a set of operands (zero values,
// zeros of other exponents, positive exponents, negatives, long scales): the
// same coefficient and the same exponent, so balances, their strings and what
// is written to the database cannot change.
func TestAddSubAsDecimal(t *testing.T) {
	ops := []decimal.Decimal{{}, decimal.Zero, decimal.New(0, -2), decimal.New(0, 3), decimal.New(1, 3), decimal.New(-7, 2),
		decimal.RequireFromString("5"), decimal.RequireFromString("5.00"), decimal.RequireFromString("-0.01"),
		decimal.RequireFromString("123456789012345678901234567890.123456789012345678"), decimal.NewFromInt(1).Neg()}
	same := func(a, b decimal.Decimal) bool {
		return a.Exponent() == b.Exponent() && a.Coefficient().Cmp(b.Coefficient()) == 0
	}
	for _, a := range ops {
		for _, b := range ops {
			if got, want := add(a, b), a.Add(b); !same(got, want) {
				t.Errorf("add(%s, %s) = %s (exp %d), Add %s (exp %d)", a, b, got, got.Exponent(), want, want.Exponent())
			}
			if got, want := sub(a, b), a.Sub(b); !same(got, want) {
				t.Errorf("sub(%s, %s) = %s (exp %d), Sub %s (exp %d)", a, b, got, got.Exponent(), want, want.Exponent())
			}
		}
	}
}
