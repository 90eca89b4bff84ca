package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// errViolations makes `tally verify` exit 1 after it printed what is broken.
var errViolations = errors.New("ledger invariants violated")

// verifyCmd checks every invariant of DESIGN.md §2 and prints a summary; each
// violation is named on its own line and the exit status is 1.
func verifyCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	business := fs.String("business", "", "check one business only")
	timeout := fs.Duration("timeout", 30*time.Minute, "bound on each check's statement (the checks scan whole tables)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *business != "" && !ledger.ValidID(*business, ledger.PrefixBusiness) {
		return usagef("--business must be a business id (BUS_…)")
	}
	if *timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	cfg.RequestTimeout = *timeout // not a request's bound: verify reads every row
	return withStore(ctx, cfg, func(s *postgres.Store) error {
		start := time.Now()
		sum, violations, err := s.Verify(ctx, *business, func(check string) {
			fmt.Fprintf(os.Stderr, "checking: %s (%s)\n", check, time.Since(start).Round(time.Millisecond))
		})
		if err != nil {
			return err
		}
		for _, v := range violations {
			fmt.Fprintf(stdout, "VIOLATION [%s] %s\n", v.Invariant, v.Detail)
		}
		status := "ok"
		if len(violations) > 0 {
			status = "FAILED"
		}
		fmt.Fprintf(stdout, "verify %s: %d businesses, %d entries, %d lines, %d accounts, %d violations in %s\n",
			status, sum.Businesses, sum.Entries, sum.Lines, sum.Accounts, len(violations), time.Since(start).Round(time.Millisecond))
		if len(violations) > 0 {
			return errViolations
		}
		return nil
	})
}
