package ledger

import (
	"testing"

	"github.com/shopspring/decimal"
)

// FuzzApply drives the pure ledger model with random programs of posted
// transfers, deposits, pending holds and the posting or voiding of holds (also
// twice), over three guarded profiles and the business's settlement, fee and
// suspense accounts in two currencies. After every step: each currency sums to
// zero (posted and pending separately), no guarded account has available < 0, no
// pending sum is negative, and a refused entry leaves the balances untouched.
// Each step reads 4 bytes: op, from, to, amount. Seeds: testdata/fuzz/FuzzApply.
func FuzzApply(f *testing.F) {
	f.Add([]byte{0, 3, 0, 100, 1, 0, 1, 50, 2, 0, 3, 30, 3, 0, 0, 0})
	f.Add([]byte{0, 3, 1, 10, 2, 1, 3, 10, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0})
	f.Add([]byte{1, 0, 1, 255, 2, 0, 1, 1})
	f.Add([]byte{0, 7, 2, 9, 5, 2, 4, 9, 2, 2, 3, 1, 4, 0, 0, 0, 4, 0, 0, 0})
	owners := []string{"CUS_a", "CUS_b", "BUS_x"}
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 4*200 {
			prog = prog[:4*200]
		}
		cur := func(b byte) string {
			if b&4 != 0 {
				return "BTC"
			}
			return "USD"
		}
		// Accounts 0–2: guarded profiles; 3: settlement; 4: fees; 5: suspense.
		acct := func(i byte, currency string) Account {
			switch i % 6 {
			case 0, 1, 2:
				return Account{Owner: owners[i%6], Purpose: PurposeMain, Currency: currency}
			case 3:
				return Account{Owner: "BUS_x", Purpose: SettlementPurpose("bank"), Currency: currency}
			case 4:
				return Account{Owner: "BUS_x", Purpose: PurposeFees, Currency: currency}
			}
			return Account{Owner: "BUS_x", Purpose: PurposeSuspense, Currency: currency}
		}
		balances := map[Account]Balance{}
		var holds []Entry // pending entries not yet posted or voided (may hold ended ones, to try twice)
		n := 0
		for i := 0; i+3 < len(prog); i += 4 {
			op, from, to, amt := prog[i], prog[i+1], prog[i+2], prog[i+3]
			c := cur(from)
			amount := decimal.New(int64(amt)+1, -2) // 0.01 … 2.56; a zero amount is tried below
			if amt == 0 && op%7 == 6 {
				amount = decimal.Zero
			}
			n++
			e := Entry{ID: "ENT_" + string(rune('a'+n%26)) + decimal.NewFromInt(int64(n)).String(), Business: "BUS_x", Phase: PhasePosted}
			switch op % 7 {
			case 0: // deposit: settlement → profile
				e.Postings = []Posting{{Debit: acct(3, c), Credit: acct(from%3, c), Amount: amount}}
			case 1, 6: // transfer between any two accounts
				e.Postings = []Posting{{Debit: acct(from, c), Credit: acct(to, c), Amount: amount}}
			case 2: // payout hold: profile → settlement and fee
				e.Phase = PhasePending
				e.Postings = []Posting{{Debit: acct(from%3, c), Credit: acct(3, c), Amount: amount},
					{Debit: acct(from%3, c), Credit: acct(4, c), Amount: decimal.New(int64(to%5), -2).Add(decimal.New(1, -2))}}
			case 3, 4: // post or void a hold (sometimes one already ended)
				if len(holds) == 0 {
					continue
				}
				h := holds[int(to)%len(holds)]
				e.PendingID, e.Postings = h.ID, h.Postings
				e.Phase = PhasePostPending
				if op%7 == 4 {
					e.Phase = PhaseVoidPending
				}
			case 5: // a two-posting entry, e.g. conversion legs in one currency
				e.Postings = []Posting{{Debit: acct(from, c), Credit: acct(to, c), Amount: amount},
					{Debit: acct(to, c), Credit: acct(5, c), Amount: amount}}
			}
			before := snapshot(balances)
			next, err := Apply(balances, e)
			if err != nil {
				if !sameBalances(before, next) || !sameBalances(before, balances) {
					t.Fatalf("step %d: refused entry (%v) changed balances", n, err)
				}
				continue
			}
			balances = next
			if e.Phase == PhasePending {
				holds = append(holds, e)
			}
			checkInvariants(t, n, balances)
		}
	})
}

func snapshot(m map[Account]Balance) map[Account]Balance {
	out := make(map[Account]Balance, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sameBalances(a, b map[Account]Balance) bool {
	for k, v := range a {
		w := b[k]
		if !v.DebitsPosted.Equal(w.DebitsPosted) || !v.CreditsPosted.Equal(w.CreditsPosted) ||
			!v.DebitsPending.Equal(w.DebitsPending) || !v.CreditsPending.Equal(w.CreditsPending) {
			return false
		}
	}
	for k, w := range b {
		if _, ok := a[k]; !ok && !w.IsZero() {
			return false
		}
	}
	return true
}

func checkInvariants(t *testing.T, step int, balances map[Account]Balance) {
	t.Helper()
	posted := map[string]decimal.Decimal{}
	pending := map[string]decimal.Decimal{}
	for a, b := range balances {
		posted[a.Currency] = posted[a.Currency].Add(b.CreditsPosted).Sub(b.DebitsPosted)
		pending[a.Currency] = pending[a.Currency].Add(b.CreditsPending).Sub(b.DebitsPending)
		if a.Guarded() && b.Available().IsNegative() {
			t.Fatalf("step %d: guarded %s has available %s", step, a, b.Available())
		}
		if b.DebitsPending.IsNegative() || b.CreditsPending.IsNegative() {
			t.Fatalf("step %d: %s has negative pending sums %+v", step, a, b)
		}
	}
	for c, s := range posted {
		if !s.IsZero() || !pending[c].IsZero() {
			t.Fatalf("step %d: %s does not sum to zero: posted %s, pending %s", step, c, s, pending[c])
		}
	}
}
