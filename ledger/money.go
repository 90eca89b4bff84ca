package ledger

import (
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// DepositAddress is where money sent on a network is attributed to a profile.
type DepositAddress struct {
	ID        string
	Business  string
	ProfileID string
	Currency  string
	Network   string
	Address   string
	CreatedAt time.Time
}

// Deposit statuses.
const (
	DepositPending   = "pending"
	DepositCompleted = "completed"
	DepositRejected  = "rejected"
	DepositUnmatched = "unmatched"
)

// Deposit is money a rail saw arrive at a deposit address.
type Deposit struct {
	ID                    string
	Business              string
	ProfileID             string
	Status                string
	Currency              string
	Network               string
	Amount                decimal.Decimal
	ToAddress             string
	FromAddress           string
	TxHash                string
	OutputIndex           int
	Confirmations         int
	RequiredConfirmations int
	EntryID               string
	CreatedAt             time.Time
	UpdatedAt             time.Time
	CompletedAt           *time.Time
}

// Payout statuses.
const (
	PayoutPending    = "pending"
	PayoutProcessing = "processing"
	PayoutCompleted  = "completed"
	PayoutFailed     = "failed"
	PayoutCancelled  = "cancelled"
)

// Beneficiary is who receives a payout (travel rule).
type Beneficiary struct {
	Name        string `json:"name"`
	Address     string `json:"address"`
	Country     string `json:"country"`
	Institution string `json:"institution"`
}

// Payout is money leaving a profile through a rail.
type Payout struct {
	ID            string
	Business      string
	ProfileID     string
	Status        string
	Currency      string
	Network       string
	Amount        decimal.Decimal
	Fee           decimal.Decimal
	Address       string
	WalletID      string
	Beneficiary   *Beneficiary
	TxHash        string
	FailureReason string
	Reference     string
	Description   string
	Metadata      map[string]string
	HoldID        string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Total is amount + fee: what the payout holds.
func (p Payout) Total() decimal.Decimal { return p.Amount.Add(p.Fee) }

// Fee is a business's payout fee for one currency: fixed + percent of the amount.
type Fee struct {
	Fixed   decimal.Decimal
	Percent decimal.Decimal
}

// For returns fixed + amount × percent / 100, rounded half-up to scale (API.md §11).
func (f Fee) For(amount decimal.Decimal, scale int32) decimal.Decimal {
	v := f.Fixed.Add(amount.Mul(f.Percent).Div(decimal.NewFromInt(100)))
	return RoundHalfUp(v, scale)
}

// FailsInSandbox reports whether the sandbox rail fails a payout to address:
// addresses ending in "dead", in any case.
func FailsInSandbox(address string) bool {
	return strings.HasSuffix(strings.ToLower(address), "dead")
}

// Transfer moves money between two profiles of one business at once.
type Transfer struct {
	ID            string
	Business      string
	FromProfileID string
	ToProfileID   string
	Status        string
	Currency      string
	Amount        decimal.Decimal
	Description   string
	Metadata      map[string]string
	EntryID       string
	CreatedAt     time.Time
}

// Rate is the operator's conversion rate: 1 Base = Rate Quote, less SpreadPercent
// for the customer.
type Rate struct {
	Base          string
	Quote         string
	Rate          decimal.Decimal
	SpreadPercent decimal.Decimal
}

// Quote is a priced, expiring offer to convert.
type Quote struct {
	ID             string
	Business       string
	ProfileID      string
	SourceCurrency string
	TargetCurrency string
	SourceAmount   decimal.Decimal
	TargetAmount   decimal.Decimal
	Rate           decimal.Decimal // target units per source unit, spread included
	Fee            decimal.Decimal // the spread, in the target currency
	ExpiresAt      time.Time
	UsedAt         *time.Time
	CreatedAt      time.Time
}

// rateScale is the number of decimal places of a quoted rate.
const rateScale = 18

// PriceQuote prices a conversion of source into target at rate r (given in either
// direction). Exactly one of sourceAmount and targetAmount is set. The customer's
// rate is the mid rate less the spread; the target amount is rounded down and the
// source amount up, so rounding never favours the customer beyond the quote.
func PriceQuote(r Rate, source, target Currency, sourceAmount, targetAmount *decimal.Decimal) (q Quote, err error) {
	var mid decimal.Decimal
	switch {
	case r.Base == source.Code && r.Quote == target.Code:
		mid = r.Rate
	case r.Base == target.Code && r.Quote == source.Code:
		mid = decimal.NewFromInt(1).DivRound(r.Rate, rateScale)
	default:
		return q, Errorf(CodeCurrencyUnsupported, "no rate for %s to %s", source.Code, target.Code)
	}
	hundred := decimal.NewFromInt(100)
	rate := mid.Mul(hundred.Sub(r.SpreadPercent)).Div(hundred).Truncate(rateScale)
	if !rate.IsPositive() {
		return q, Errorf(CodeCurrencyUnsupported, "no usable rate for %s to %s", source.Code, target.Code)
	}
	q.SourceCurrency, q.TargetCurrency, q.Rate = source.Code, target.Code, rate
	if sourceAmount != nil {
		q.SourceAmount = *sourceAmount
		q.TargetAmount = sourceAmount.Mul(rate).RoundFloor(target.Scale)
	} else {
		q.TargetAmount = *targetAmount
		q.SourceAmount = targetAmount.DivRound(rate, rateScale+2).RoundCeil(source.Scale)
	}
	if !q.SourceAmount.IsPositive() || !q.TargetAmount.IsPositive() {
		return q, ParamErrorf(CodeAmountInvalid, "source_amount", "the amount is too small to convert")
	}
	q.Fee = q.SourceAmount.Mul(mid).Sub(q.TargetAmount).RoundFloor(target.Scale)
	if q.Fee.IsNegative() {
		q.Fee = decimal.Zero
	}
	return q, nil
}

// Conversion is an executed quote.
type Conversion struct {
	ID             string
	Business       string
	ProfileID      string
	QuoteID        string
	Status         string
	SourceCurrency string
	TargetCurrency string
	SourceAmount   decimal.Decimal
	TargetAmount   decimal.Decimal
	Rate           decimal.Decimal
	Fee            decimal.Decimal
	EntryID        string
	CreatedAt      time.Time
}

// ProfileAccount is a profile's main account in one currency.
func ProfileAccount(profile, currency string) Account {
	return Account{Owner: profile, Purpose: PurposeMain, Currency: currency}
}

// BusinessAccount is one of the business's system accounts.
func BusinessAccount(business string, p Purpose, currency string) Account {
	return Account{Owner: business, Purpose: p, Currency: currency}
}
