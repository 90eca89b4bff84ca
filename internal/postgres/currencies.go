package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tallyhq/tally/ledger"
)

// currencyCacheTTL bounds how stale the in-process currency registry may be after
// the operator changes it.
const currencyCacheTTL = 10 * time.Second

type currencyCache struct {
	mu    sync.Mutex // one reload at a time
	fresh atomic.Pointer[cachedCurrencies]
}

type cachedCurrencies struct {
	cs     ledger.Currencies
	loaded time.Time
}

var currencies currencyCache

// Currencies returns the registry, cached for a few seconds.
func (s *Store) Currencies(ctx context.Context) (ledger.Currencies, error) {
	if cs, ok := s.CachedCurrencies(); ok {
		return cs, nil
	}
	currencies.mu.Lock()
	defer currencies.mu.Unlock()
	if cs, ok := s.CachedCurrencies(); ok {
		return cs, nil
	}
	cs, err := s.loadCurrencies(ctx)
	if err != nil {
		return nil, err
	}
	currencies.fresh.Store(&cachedCurrencies{cs: cs, loaded: time.Now()})
	return cs, nil
}

// CachedCurrencies returns the registry if the cache holds a fresh one: no lock,
// no database, so a request needs no deadline for it.
func (s *Store) CachedCurrencies() (ledger.Currencies, bool) {
	if c := currencies.fresh.Load(); c != nil && time.Since(c.loaded) < currencyCacheTTL {
		return c.cs, true
	}
	return nil, false
}

func (s *Store) loadCurrencies(ctx context.Context) (ledger.Currencies, error) {
	rows, err := s.db.DB.QueryContext(ctx, `SELECT c.code, c.name, c.type, c.scale, c.travel_rule_threshold,
			n.network, n.confirmations, n.min_payout
		FROM currencies c JOIN currency_networks n ON n.currency = c.code ORDER BY c.code, n.network`)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	cs := ledger.Currencies{}
	for rows.Next() {
		var c ledger.Currency
		var typ string
		var n ledger.Network
		var minPayout decimal.Decimal
		if err := rows.Scan(&c.Code, &c.Name, &typ, &c.Scale, &c.TravelRuleThreshold, &n.Name, &n.Confirmations, &minPayout); err != nil {
			return nil, translate(err)
		}
		n.MinPayout = minPayout
		c.Type = ledger.CurrencyType(typ)
		if prev, ok := cs[c.Code]; ok {
			c = prev
		}
		c.Networks = append(c.Networks, n)
		cs[c.Code] = c
	}
	return cs, translate(rows.Err())
}

// SetTravelRuleThreshold changes a currency's travel-rule threshold (operator).
func (s *Store) SetTravelRuleThreshold(ctx context.Context, code string, threshold decimal.Decimal) error {
	res, err := s.db.DB.ExecContext(ctx, `UPDATE currencies SET travel_rule_threshold = $2 WHERE code = $1`, code, threshold)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ledger.Errorf(ledger.CodeCurrencyUnsupported, "currency %q is not supported", code)
	}
	currencies.mu.Lock() // after any reload in flight, which read the old registry
	currencies.fresh.Store(nil)
	currencies.mu.Unlock()
	return nil
}
