package ledger

import (
	"sort"
	"strings"

	"github.com/shopspring/decimal"
)

// CurrencyType is fiat or crypto; fiat and crypto balances are kept apart.
type CurrencyType string

// Currency types.
const (
	CurrencyFiat   CurrencyType = "fiat"
	CurrencyCrypto CurrencyType = "crypto"
)

// Network is one rail a currency moves on, with its own deposit confirmations and
// payout minimum.
type Network struct {
	Name          string
	Confirmations int
	MinPayout     decimal.Decimal
}

// Currency is an asset the ledger holds. Scale is the number of decimal places of
// its smallest unit; no amount with more places enters the ledger.
type Currency struct {
	Code                string
	Name                string
	Type                CurrencyType
	Scale               int32
	TravelRuleThreshold decimal.Decimal
	Networks            []Network
}

// Network returns the currency's network by name.
func (c Currency) Network(name string) (Network, bool) {
	for _, n := range c.Networks {
		if n.Name == name {
			return n, true
		}
	}
	return Network{}, false
}

// ParseAmount parses s at this currency's scale (see ParseAmount).
func (c Currency) ParseAmount(s string) (decimal.Decimal, error) { return ParseAmount(s, c.Scale) }

// Format renders d at this currency's scale.
func (c Currency) Format(d decimal.Decimal) string { return FormatAmount(d, c.Scale) }

// Currencies is the registry, keyed by code.
type Currencies map[string]Currency

// Get returns a currency by code, or currency_unsupported naming param.
func (cs Currencies) Get(code, param string) (Currency, error) {
	c, ok := cs[strings.ToUpper(code)]
	if !ok {
		return Currency{}, ParamErrorf(CodeCurrencyUnsupported, param, "currency %q is not supported", code)
	}
	return c, nil
}

// GetNetwork returns a currency and one of its networks, or the matching error.
func (cs Currencies) GetNetwork(code, network string) (Currency, Network, error) {
	c, err := cs.Get(code, "currency")
	if err != nil {
		return Currency{}, Network{}, err
	}
	n, ok := c.Network(network)
	if !ok {
		return Currency{}, Network{}, ParamErrorf(CodeNetworkUnsupported, "network", "network %q is not supported for %s", network, code)
	}
	return c, n, nil
}

// Sorted returns the currencies ordered by code.
func (cs Currencies) Sorted() []Currency {
	out := make([]Currency, 0, len(cs))
	for _, c := range cs {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}
