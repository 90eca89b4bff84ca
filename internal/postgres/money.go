package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/shopspring/decimal"
	"github.com/uptrace/bun"

	"github.com/tallyhq/tally/ledger"
)

// keyset applies keyset pagination (newest first) to a select and returns it.
func keyset(q *bun.SelectQuery, p ledger.Page) *bun.SelectQuery {
	if c := p.After; c != nil {
		q = q.Where("(created_at, id) < (?, ?)", c.CreatedAt, c.ID)
	}
	return q.OrderExpr("created_at DESC, id DESC").Limit(int64(p.Limit + 1))
}

func notFound(err error, what, id string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.Errorf(ledger.CodeNotFound, "%s %q not found", what, id)
	}
	return translate(err)
}

// ---- deposit addresses ----

type depositAddressRow struct {
	bun.BaseModel `bun:"table:deposit_addresses"`
	BusinessID    string    `bun:"business_id,pk"`
	ID            string    `bun:"id,pk"`
	ProfileID     string    `bun:"profile_id"`
	Currency      string    `bun:"currency"`
	Network       string    `bun:"network"`
	Address       string    `bun:"address"`
	CreatedAt     time.Time `bun:"created_at"`
}

func (r depositAddressRow) domain() ledger.DepositAddress {
	return ledger.DepositAddress{ID: r.ID, Business: r.BusinessID, ProfileID: r.ProfileID, Currency: r.Currency,
		Network: r.Network, Address: r.Address, CreatedAt: r.CreatedAt.UTC()}
}

// CreateDepositAddress stores a new deposit address.
func (t *Tx) CreateDepositAddress(ctx context.Context, a ledger.DepositAddress) error {
	r := depositAddressRow{BusinessID: a.Business, ID: a.ID, ProfileID: a.ProfileID, Currency: a.Currency,
		Network: a.Network, Address: a.Address, CreatedAt: a.CreatedAt}
	_, err := t.tx.NewInsert().Model(&r).Exec(ctx)
	return translate(err)
}

// ListDepositAddresses pages through a profile's deposit addresses.
func (s *Store) ListDepositAddresses(ctx context.Context, business, profile string, p ledger.Page) ([]ledger.DepositAddress, error) {
	return readAs(ctx, s, business, func(s *Store) ([]ledger.DepositAddress, error) {
		var rows []depositAddressRow
		err := scanOnce(ctx, s.raw, s.db, keyset(s.q.NewSelect().Model(&rows).Where("business_id = ? AND profile_id = ?", business, profile), p), &rows)
		out := make([]ledger.DepositAddress, len(rows))
		for i, r := range rows {
			out[i] = r.domain()
		}
		return out, translate(err)
	})
}

// routeDepositAddress finds who owns an address on a network (rail attribution).
func (t *Tx) routeDepositAddress(ctx context.Context, network, address string) (*ledger.DepositAddress, error) {
	var r depositAddressRow
	err := t.tx.NewSelect().Model(&r).Where("network = ? AND address = ?", network, address).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, translate(err)
	}
	a := r.domain()
	return &a, nil
}

// FindDepositAddressByAddress returns a business's own deposit address.
func (t *Tx) FindDepositAddressByAddress(ctx context.Context, business, network, address string) (*ledger.DepositAddress, error) {
	a, err := t.routeDepositAddress(ctx, network, address)
	if err != nil || a == nil || a.Business != business {
		return nil, err
	}
	return a, nil
}

// ---- fees, rates, risk list, rail keys (operator configuration) ----

// SetFee sets a business's payout fee for one currency.
func (s *Store) SetFee(ctx context.Context, business, currency string, f ledger.Fee) error {
	_, err := s.db.DB.ExecContext(ctx, `INSERT INTO payout_fees (business_id, currency, fixed, percent) VALUES ($1, $2, $3, $4)
		ON CONFLICT (business_id, currency) DO UPDATE SET fixed = EXCLUDED.fixed, percent = EXCLUDED.percent`,
		business, currency, f.Fixed, f.Percent)
	return translate(err)
}

// Fee returns the business's payout fee for currency (zero when none is set).
func (t *Tx) Fee(ctx context.Context, business, currency string) (ledger.Fee, error) {
	var f ledger.Fee
	err := t.tx.Tx.QueryRowContext(ctx, `SELECT fixed, percent FROM payout_fees WHERE business_id = $1 AND currency = $2`,
		business, currency).Scan(&f.Fixed, &f.Percent)
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.Fee{Fixed: decimal.Zero, Percent: decimal.Zero}, nil
	}
	return f, translate(err)
}

// PayoutTerms answers, in one round trip, whether a payout destination is on the
// risk list and what fee the business charges in currency (zero when none is set).
func (t *Tx) PayoutTerms(ctx context.Context, business, currency, network, address string) (bool, ledger.Fee, error) {
	var risky bool
	var f ledger.Fee
	err := t.tx.Tx.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM risk_addresses WHERE network = $3 AND lower(address) = lower($4)),
			coalesce(f.fixed, 0), coalesce(f.percent, 0)
		FROM (SELECT 1) one LEFT JOIN payout_fees f ON f.business_id = $1 AND f.currency = $2`,
		business, currency, network, address).Scan(&risky, &f.Fixed, &f.Percent)
	return risky, f, translate(err)
}

// PayoutTermsQuery is one payout destination whose terms PayoutTermsMany reads.
type PayoutTermsQuery struct{ Currency, Network, Address string }

// PayoutTermsMany is PayoutTerms for many payouts of one business in one round
// trip: risky[i] and fees[i] answer qs[i].
func (t *Tx) PayoutTermsMany(ctx context.Context, business string, qs []PayoutTermsQuery) (risky []bool, fees []ledger.Fee, err error) {
	n := len(qs)
	risky, fees = make([]bool, n), make([]ledger.Fee, n)
	if n == 0 {
		return risky, fees, nil
	}
	cur, network, address := make([]string, n), make([]string, n), make([]string, n)
	for i, q := range qs {
		cur[i], network[i], address[i] = q.Currency, q.Network, q.Address
	}
	rows, err := t.tx.Tx.QueryContext(ctx, `SELECT u.ord,
			EXISTS (SELECT 1 FROM risk_addresses r WHERE r.network = u.network AND lower(r.address) = lower(u.address)),
			coalesce(f.fixed, 0), coalesce(f.percent, 0)
		FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(currency, network, address, ord)
		LEFT JOIN payout_fees f ON f.business_id = $1 AND f.currency = u.currency
		ORDER BY u.ord`, business, cur, network, address)
	if err != nil {
		return nil, nil, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var ord int
		var r bool
		var f ledger.Fee
		if err := rows.Scan(&ord, &r, &f.Fixed, &f.Percent); err != nil {
			return nil, nil, translate(err)
		}
		risky[ord-1], fees[ord-1] = r, f
	}
	return risky, fees, translate(rows.Err())
}

// SetRate sets the conversion rate of a pair (used in both directions).
func (s *Store) SetRate(ctx context.Context, r ledger.Rate) error {
	_, err := s.db.DB.ExecContext(ctx, `INSERT INTO fx_rates (base, quote, rate, spread_percent, updated_at) VALUES ($1, $2, $3, $4, now())
		ON CONFLICT (base, quote) DO UPDATE SET rate = EXCLUDED.rate, spread_percent = EXCLUDED.spread_percent, updated_at = now()`,
		r.Base, r.Quote, r.Rate, r.SpreadPercent)
	return translate(err)
}

// FindRate returns the rate set for a pair in either direction.
func (t *Tx) FindRate(ctx context.Context, a, b string) (ledger.Rate, error) {
	var r ledger.Rate
	err := t.tx.Tx.QueryRowContext(ctx, `SELECT base, quote, rate, spread_percent FROM fx_rates
		WHERE (base = $1 AND quote = $2) OR (base = $2 AND quote = $1) ORDER BY updated_at DESC LIMIT 1`, a, b).
		Scan(&r.Base, &r.Quote, &r.Rate, &r.SpreadPercent)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ledger.Errorf(ledger.CodeCurrencyUnsupported, "conversion from %s to %s is not offered", a, b)
	}
	return r, translate(err)
}

// AddRiskAddress puts an address on the risk list.
func (s *Store) AddRiskAddress(ctx context.Context, network, address string) error {
	_, err := s.db.DB.ExecContext(ctx, `INSERT INTO risk_addresses (network, address) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		network, address)
	return translate(err)
}

// Risky reports whether an address is on the risk list (compared case-insensitively).
func (t *Tx) Risky(ctx context.Context, network, address string) (bool, error) {
	var risky bool
	err := t.tx.Tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM risk_addresses WHERE network = $1 AND lower(address) = lower($2))`,
		network, address).Scan(&risky)
	return risky, translate(err)
}

// CreateRailKey creates an operator rail key and returns its secret (shown once).
func (s *Store) CreateRailKey(ctx context.Context) (string, string, error) {
	id := ledger.NewID(ledger.PrefixRailKey)
	secret := ledger.NewSecret("rk_")
	_, err := s.db.DB.ExecContext(ctx, `INSERT INTO rail_keys (id, hash) VALUES ($1, $2)`, id, ledger.HashSecret(secret))
	return id, secret, translate(err)
}

// AuthenticateRail resolves a rail key to its id.
func (s *Store) AuthenticateRail(ctx context.Context, secret string) (string, error) {
	var id string
	err := s.db.DB.QueryRowContext(ctx, `SELECT id FROM rail_keys WHERE hash = $1 AND revoked_at IS NULL`, ledger.HashSecret(secret)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ledger.Errorf(ledger.CodeUnauthenticated, "invalid or revoked rail key")
	}
	return id, translate(err)
}
