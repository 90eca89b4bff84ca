package main

import (
	"context"
	"flag"
	"io"
	"strings"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// railsCmd: tally rails keys create.
func railsCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) != 2 || args[0] != "keys" || args[1] != "create" {
		return usagef("usage: tally rails keys create")
	}
	return withStore(ctx, cfg, func(s *postgres.Store) error {
		id, secret, err := s.CreateRailKey(ctx)
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]string{"id": id, "rail_key": secret})
	})
}

// feesCmd: tally fees set --business BUS_… --currency C --fixed F --percent P.
func feesCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "set" {
		return usagef("usage: tally fees set --business BUS_… --currency C --fixed F --percent P")
	}
	fs := flag.NewFlagSet("fees set", flag.ContinueOnError)
	business := fs.String("business", "", "business id")
	currency := fs.String("currency", "", "currency code")
	fixed := fs.String("fixed", "0", "fixed fee in the currency")
	percent := fs.String("percent", "0", "percent of the amount")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	return withStore(ctx, cfg, func(s *postgres.Store) error {
		if _, err := s.FindBusiness(ctx, *business); err != nil {
			return err
		}
		cs, err := s.Currencies(ctx)
		if err != nil {
			return err
		}
		cur, err := cs.Get(strings.ToUpper(*currency), "currency")
		if err != nil {
			return err
		}
		f, err := ledger.ParseDecimal(*fixed)
		if err != nil || f.IsNegative() || !ledger.FitsScale(f, cur.Scale) {
			return usagef("--fixed must be a non-negative amount with at most %d decimals", cur.Scale)
		}
		p, err := ledger.ParseDecimal(*percent)
		if err != nil || p.IsNegative() || p.GreaterThan(ledger.Hundred) {
			return usagef("--percent must be a number from 0 to 100")
		}
		if err := s.SetFee(ctx, *business, cur.Code, ledger.Fee{Fixed: f, Percent: p}); err != nil {
			return err
		}
		return printJSON(stdout, map[string]string{"business_id": *business, "currency": cur.Code, "fixed": f.String(), "percent": p.String()})
	})
}

// ratesCmd: tally rates set --base BTC --quote USDT --rate R [--spread-percent S].
func ratesCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "set" {
		return usagef("usage: tally rates set --base BTC --quote USDT --rate R [--spread-percent S]")
	}
	fs := flag.NewFlagSet("rates set", flag.ContinueOnError)
	base := fs.String("base", "", "base currency")
	quote := fs.String("quote", "", "quote currency")
	rate := fs.String("rate", "", "1 base = rate quote")
	spread := fs.String("spread-percent", "0", "spread charged to the customer, percent")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	return withStore(ctx, cfg, func(s *postgres.Store) error {
		cs, err := s.Currencies(ctx)
		if err != nil {
			return err
		}
		b, err := cs.Get(strings.ToUpper(*base), "base")
		if err != nil {
			return err
		}
		q, err := cs.Get(strings.ToUpper(*quote), "quote")
		if err != nil {
			return err
		}
		if b.Code == q.Code {
			return usagef("--base and --quote must differ")
		}
		r, err := ledger.ParseDecimal(*rate)
		if err != nil || !r.IsPositive() {
			return usagef("--rate must be a positive decimal")
		}
		sp, err := ledger.ParseDecimal(*spread)
		if err != nil || sp.IsNegative() || !sp.LessThan(ledger.Hundred) {
			return usagef("--spread-percent must be from 0 to less than 100")
		}
		if err := s.SetRate(ctx, ledger.Rate{Base: b.Code, Quote: q.Code, Rate: r, SpreadPercent: sp}); err != nil {
			return err
		}
		return printJSON(stdout, map[string]string{"base": b.Code, "quote": q.Code, "rate": r.String(), "spread_percent": sp.String()})
	})
}

// riskCmd: tally risk add-address --network N --address A.
func riskCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "add-address" {
		return usagef("usage: tally risk add-address --network N --address A")
	}
	fs := flag.NewFlagSet("risk add-address", flag.ContinueOnError)
	network := fs.String("network", "", "network")
	address := fs.String("address", "", "address")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *network == "" || *address == "" || len(*address) > 128 {
		return usagef("--network and --address are required")
	}
	addr := *address
	if norm, err := ledger.ValidateAddress(*network, addr); err == nil {
		addr = norm
	}
	return withStore(ctx, cfg, func(s *postgres.Store) error {
		if err := s.AddRiskAddress(ctx, *network, addr); err != nil {
			return err
		}
		return printJSON(stdout, map[string]string{"network": *network, "address": addr})
	})
}

// currenciesCmd: tally currencies set-threshold --currency C --threshold T.
func currenciesCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "set-threshold" {
		return usagef("usage: tally currencies set-threshold --currency C --threshold T")
	}
	fs := flag.NewFlagSet("currencies set-threshold", flag.ContinueOnError)
	currency := fs.String("currency", "", "currency code")
	threshold := fs.String("threshold", "", "travel-rule threshold")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	t, err := ledger.ParseDecimal(*threshold)
	if err != nil || !t.IsPositive() {
		return usagef("--threshold must be a positive decimal")
	}
	return withStore(ctx, cfg, func(s *postgres.Store) error {
		if err := s.SetTravelRuleThreshold(ctx, strings.ToUpper(*currency), t); err != nil {
			return err
		}
		return printJSON(stdout, map[string]string{"currency": strings.ToUpper(*currency), "travel_rule_threshold": t.String()})
	})
}
