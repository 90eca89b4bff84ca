// Command tally is the one binary of Tally: the API server and the operator CLI.
// It only wires; logic lives in ledger and internal/*.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/postgres"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `tally — multi-tenant ledger API

Usage:
  tally serve                                   run the API (applies pending migrations first)
  tally migrate                                 apply migrations and exit
  tally businesses create --name N [--sandbox]  create a business; prints its secret key once
  tally keys create --business BUS_… [--read-only] [--name N]
  tally keys revoke KEY_…
  tally users create --business BUS_… --email E --role owner|viewer [--password P]   dashboard sign-in; prints the password once
  tally rails keys create                       create a rail key (rk_…) for a money rail
  tally fees set --business BUS_… --currency C --fixed F --percent P
  tally rates set --base BTC --quote USDT --rate R [--spread-percent S]
  tally risk add-address --network N --address A
  tally currencies set-threshold --currency C --threshold T   travel-rule threshold
  tally verify [--business BUS_…] [--timeout 30m]   check every ledger invariant; exit 1 on a violation
  tally devdb start|stop|url                    the embedded development database (.data/postgres)
  tally demo                                    create the sandbox demo business once and print how to call it
  tally version

Configuration comes from the environment; see README.md.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "tally: %v\n\n%s", err, usage)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "tally: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("missing command")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "version", "--version":
		fmt.Fprintln(stdout, "tally", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "devdb":
		return devdbCmd(args[1:], stdout)
	}
	cfg, err := config.Load(os.LookupEnv)
	if err != nil {
		return err
	}
	logOpts := &slog.HandlerOptions{Level: cfg.LogLevel}
	switch args[0] {
	case "serve":
		// The access log writes a line per request: batched (logbuf.go).
		lb := newLogBuffer(stderr, 100*time.Millisecond)
		defer lb.Close()
		return serve(ctx, cfg, slog.New(flushAt{Handler: slog.NewJSONHandler(lb, logOpts), buf: lb, level: slog.LevelWarn}))
	case "migrate":
		return withStore(ctx, cfg, func(s *postgres.Store) error {
			names, err := postgres.Migrate(ctx, s.DB())
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "migrations applied: %d\n", len(names))
			return nil
		})
	case "businesses":
		return businessesCmd(ctx, cfg, args[1:], stdout)
	case "keys":
		return keysCmd(ctx, cfg, args[1:], stdout)
	case "demo":
		return demoCmd(ctx, cfg, stdout)
	case "rails":
		return railsCmd(ctx, cfg, args[1:], stdout)
	case "fees":
		return feesCmd(ctx, cfg, args[1:], stdout)
	case "rates":
		return ratesCmd(ctx, cfg, args[1:], stdout)
	case "risk":
		return riskCmd(ctx, cfg, args[1:], stdout)
	case "currencies":
		return currenciesCmd(ctx, cfg, args[1:], stdout)
	case "verify":
		return verifyCmd(ctx, cfg, args[1:], stdout)
	case "users":
		return usersCmd(ctx, cfg, args[1:], stdout)
	}
	return usagef("unknown command %q", args[0])
}

// withStore opens the database, runs fn and closes it.
func withStore(ctx context.Context, cfg config.Config, fn func(*postgres.Store) error) error {
	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{PoolSize: 4, StatementTimeout: cfg.RequestTimeout})
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(postgres.New(db))
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseFlags parses a subcommand's flags, refusing stray arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return usagef("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), strings.Join(fs.Args(), " "))
	}
	return nil
}
