package ledger

import (
	"fmt"
	"hash/fnv"
	mrand "math/rand/v2"
	"time"

	"github.com/shopspring/decimal"
)

// Purpose says what an account is for (DESIGN.md §2).
type Purpose string

// Account purposes. Settlement accounts are per rail: "settlement:bitcoin".
const (
	PurposeMain     Purpose = "main"     // what a profile owns; a liability of the platform
	PurposeFees     Purpose = "fees"     // the business's fee revenue
	PurposeFX       Purpose = "fx"       // the business's conversion position
	PurposeSuspense Purpose = "suspense" // rejected deposits awaiting review
)

// SettlementPurpose is the account of money held at a rail.
func SettlementPurpose(network string) Purpose { return Purpose("settlement:" + network) }

// hotShards is how many balance rows a hot account is spread over.
const hotShards = 64

// postingCountMax bounds the postings of one entry.
const postingCountMax = 16

// Account identifies one account of a business: created on first use.
type Account struct {
	Owner    string // BUS_… or CUS_…
	Purpose  Purpose
	Currency string
}

func (a Account) String() string { return a.Owner + "/" + string(a.Purpose) + "/" + a.Currency }

// Guarded reports whether the account may never go below zero available: what a
// profile owns. Guarded accounts have one balance row and are debited only by a
// conditional statement.
func (a Account) Guarded() bool { return a.Purpose == PurposeMain }

// NormalSide is debit for assets (money at a rail), credit for the rest.
func (a Account) NormalSide() Direction {
	if len(a.Purpose) > 11 && a.Purpose[:11] == "settlement:" {
		return Debit
	}
	return Credit
}

// Shard picks the balance row of this account that an entry touches: always 0 for
// guarded accounts, a hash of shardKey for hot ones.
func (a Account) Shard(shardKey string) int16 {
	if a.Guarded() {
		return 0
	}
	return hotShard(shardKey)
}

func hotShard(shardKey string) int16 {
	h := fnv.New32a()
	h.Write([]byte(shardKey))
	return int16(h.Sum32() % hotShards)
}

// LaneShard picks a hot-account shard in lane of lanes (shard mod lanes = lane)
// at random: writers that run concurrently, each in its own lane, never wait on
// each other's shard rows. lanes <= 1 is any shard.
func LaneShard(lane, lanes int) int16 {
	if lanes <= 1 {
		return int16(mrand.IntN(hotShards))
	}
	return int16(lane + lanes*mrand.IntN((hotShards-lane+lanes-1)/lanes))
}

// EntryIDOnShard returns a new entry id that puts every hot account an entry
// with that id touches on shard (taken mod the shard count, so any value is one).
// The API's combiner gives each batch one shard of its worker's lane (LaneShard):
// the batch's payouts then share one fee row and one settlement row, not one
// each, and two workers' batches never queue on the same row.
//
// It reserves 32 ids that differ in their last character only and hashes the
// shared part once: FNV-1a's last step maps the 32 last characters to 32
// different shards (each character differs in its low 6 bits, and XOR then an
// odd multiplier are bijections mod 64), so a block holds the shard half the
// time; two blocks are needed on average.
func EntryIDOnShard(shard int16) string {
	want := uint32((int(shard)%hotShards + hotShards) % hotShards)
	for {
		head := newIDBlock(PrefixEntry)
		h := uint32(fnvOffset32)
		for i := 0; i < len(head); i++ {
			h = (h ^ uint32(head[i])) * fnvPrime32
		}
		for i := 0; i < len(crockford); i++ {
			if ((h^uint32(crockford[i]))*fnvPrime32)%hotShards == want {
				return head + crockford[i:i+1]
			}
		}
	}
}

// FNV-1a's 32-bit parameters (hash/fnv), for EntryIDOnShard's incremental hash.
const (
	fnvOffset32 = 2166136261
	fnvPrime32  = 16777619
)

// Direction is the side of a line.
type Direction string

// Directions.
const (
	Debit  Direction = "debit"
	Credit Direction = "credit"
)

// Phase is how an entry changes balances: posted at once, reserved as a pending
// hold, or the posting/voiding of an earlier hold.
type Phase string

// Phases.
const (
	PhasePosted      Phase = "posted"
	PhasePending     Phase = "pending"
	PhasePostPending Phase = "post_pending"
	PhaseVoidPending Phase = "void_pending"
)

// LineType is what a history line means to its profile (API.md §5).
type LineType string

// Line types.
const (
	LineDeposit        LineType = "deposit"
	LinePayout         LineType = "payout"
	LinePayoutFee      LineType = "payout_fee"
	LinePayoutReversal LineType = "payout_reversal"
	LineTransfer       LineType = "transfer"
	LineConversion     LineType = "conversion"
	LineAdjustment     LineType = "adjustment"
)

// Posting moves Amount from Debit to Credit; both accounts have one currency, so
// an entry balances per currency by construction.
type Posting struct {
	Debit  Account
	Credit Account
	Amount decimal.Decimal
	Type   LineType
}

// Entry is one atomic journal record of one business.
type Entry struct {
	ID          string
	Business    string
	Kind        string // deposit, payout, transfer, conversion, adjustment
	Phase       Phase
	PendingID   string // the hold a post_pending or void_pending entry ends
	ResourceID  string // DPT_/PAY_/TRF_/CNV_ that caused it
	Description string
	Postings    []Posting
	CreatedAt   time.Time
}

// ShardKey decides the hot-account shards an entry touches. Posting or voiding a
// hold must touch the shards the hold reserved, so it uses the hold's id.
func (e Entry) ShardKey() string {
	if e.PendingID != "" {
		return e.PendingID
	}
	return e.ID
}

// Validate checks an entry before it reaches storage.
func (e Entry) Validate() error {
	if len(e.Postings) == 0 || len(e.Postings) > postingCountMax {
		return Errorf(CodeValidation, "an entry needs 1 to %d postings", postingCountMax)
	}
	switch e.Phase {
	case PhasePosted, PhasePending:
		if e.PendingID != "" {
			return Errorf(CodeValidation, "only post/void entries name a hold")
		}
	case PhasePostPending, PhaseVoidPending:
		if e.PendingID == "" {
			return Errorf(CodeValidation, "post/void entries must name a hold")
		}
	default:
		return Errorf(CodeValidation, "unknown phase %q", e.Phase)
	}
	for i, p := range e.Postings {
		switch {
		case !p.Amount.IsPositive():
			return Errorf(CodeAmountInvalid, "posting %d: amount must be positive", i)
		case p.Debit.Currency != p.Credit.Currency:
			return Errorf(CodeValidation, "posting %d: %s and %s differ in currency", i, p.Debit, p.Credit)
		case p.Debit == p.Credit:
			return Errorf(CodeValidation, "posting %d: debit and credit are the same account", i)
		}
	}
	return nil
}

// Balance is an account's four running sums.
type Balance struct {
	DebitsPosted   decimal.Decimal
	CreditsPosted  decimal.Decimal
	DebitsPending  decimal.Decimal
	CreditsPending decimal.Decimal
}

// Available is what can be spent now: posted credits less posted debits less
// holds (API.md §5).
func (b Balance) Available() decimal.Decimal {
	return sub(sub(b.CreditsPosted, b.DebitsPosted), b.DebitsPending)
}

// Held is reserved by payouts in flight.
func (b Balance) Held() decimal.Decimal { return b.DebitsPending }

// Pending is incoming money not yet confirmed.
func (b Balance) Pending() decimal.Decimal { return b.CreditsPending }

// Total is available + held.
func (b Balance) Total() decimal.Decimal { return b.CreditsPosted.Sub(b.DebitsPosted) }

// IsZero reports whether nothing is held, pending or owned.
func (b Balance) IsZero() bool {
	return b.Total().IsZero() && b.DebitsPending.IsZero() && b.CreditsPending.IsZero()
}

// Add returns b + o (summing shards).
func (b Balance) Add(o Balance) Balance {
	return Balance{add(b.DebitsPosted, o.DebitsPosted), add(b.CreditsPosted, o.CreditsPosted),
		add(b.DebitsPending, o.DebitsPending), add(b.CreditsPending, o.CreditsPending)}
}

// add is a.Add(b) and sub is a.Sub(b), skipping the arithmetic (and its big.Int
// allocations) when b, or for add a, is the zero Decimal{} — the sums a Delta
// leaves untouched, three of its four: the result is then the other operand,
// which is exactly what Add and Sub return (same value, same exponent; they
// rescale only to a smaller exponent than the operands', never here).
// A batch of 1,000 transfers did 118 allocations a transfer before, most of them
// here (BenchmarkRecordMany, internal/postgres).
func add(a, b decimal.Decimal) decimal.Decimal {
	switch {
	case isZeroValue(b) && a.Exponent() <= 0:
		return a
	case isZeroValue(a) && b.Exponent() <= 0:
		return b
	}
	return a.Add(b)
}

func sub(a, b decimal.Decimal) decimal.Decimal {
	if isZeroValue(b) && a.Exponent() <= 0 {
		return a
	}
	return a.Sub(b)
}

func isZeroValue(d decimal.Decimal) bool { return d.Exponent() == 0 && d.IsZero() }

// Delta is how one line changes its account's sums.
func Delta(dir Direction, phase Phase, amount decimal.Decimal) Balance {
	var d Balance
	switch {
	case dir == Debit && phase == PhasePosted:
		d.DebitsPosted = amount
	case dir == Credit && phase == PhasePosted:
		d.CreditsPosted = amount
	case dir == Debit && phase == PhasePending:
		d.DebitsPending = amount
	case dir == Credit && phase == PhasePending:
		d.CreditsPending = amount
	case dir == Debit && phase == PhasePostPending:
		d.DebitsPending, d.DebitsPosted = amount.Neg(), amount
	case dir == Credit && phase == PhasePostPending:
		d.CreditsPending, d.CreditsPosted = amount.Neg(), amount
	case dir == Debit && phase == PhaseVoidPending:
		d.DebitsPending = amount.Neg()
	case dir == Credit && phase == PhaseVoidPending:
		d.CreditsPending = amount.Neg()
	default:
		panic(fmt.Sprintf("unknown line %s/%s", dir, phase))
	}
	return d
}

// Visible reports whether a line of a profile's main account belongs in its
// history: exactly the lines that change its available balance.
func Visible(a Account, dir Direction, phase Phase) bool {
	if !a.Guarded() {
		return false
	}
	if v, ok := visibleLines[lineKind{dir, phase}]; ok {
		return v
	}
	return movesAvailable(dir, phase) // an unknown kind: Delta panics, as it always did
}

// movesAvailable reports whether a line of this direction and phase changes its
// account's available balance.
func movesAvailable(dir Direction, phase Phase) bool {
	return !Delta(dir, phase, decimal.NewFromInt(1)).Available().IsZero()
}

type lineKind struct {
	dir   Direction
	phase Phase
}

// visibleLines is Visible's answer for a guarded account's lines, worked out
// once from Delta (every line of a batch asks).
var visibleLines = func() map[lineKind]bool {
	m := map[lineKind]bool{}
	for _, dir := range []Direction{Debit, Credit} {
		for _, phase := range []Phase{PhasePosted, PhasePending, PhasePostPending, PhaseVoidPending} {
			m[lineKind{dir, phase}] = movesAvailable(dir, phase)
		}
	}
	return m
}()

// Apply is the pure model of the ledger: it returns balances after entry e, or
// insufficient_funds (and no change) when a guarded account would drop below zero
// available, or invalid_state when a pending sum would go negative (posting a hold
// twice). The PostgreSQL store must agree with it; the fuzz test checks that.
func Apply(balances map[Account]Balance, e Entry) (map[Account]Balance, error) {
	if err := e.Validate(); err != nil {
		return balances, err
	}
	next := make(map[Account]Balance, len(balances)+2)
	for k, v := range balances {
		next[k] = v
	}
	for _, p := range e.Postings {
		next[p.Debit] = next[p.Debit].Add(Delta(Debit, e.Phase, p.Amount))
		next[p.Credit] = next[p.Credit].Add(Delta(Credit, e.Phase, p.Amount))
	}
	for _, p := range e.Postings {
		for _, a := range []Account{p.Debit, p.Credit} {
			b := next[a]
			if b.DebitsPending.IsNegative() || b.CreditsPending.IsNegative() {
				return balances, Errorf(CodeInvalidState, "hold %s is not pending on %s", e.PendingID, a)
			}
			if a.Guarded() && b.Available().IsNegative() {
				return balances, Errorf(CodeInsufficientFunds, "insufficient funds in %s", a.Currency)
			}
		}
	}
	return next, nil
}
