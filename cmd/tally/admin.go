package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/devdb"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

func businessesCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usagef("usage: tally businesses create --name NAME [--sandbox]")
	}
	fs := flag.NewFlagSet("businesses create", flag.ContinueOnError)
	name := fs.String("name", "", "business name")
	sandbox := fs.Bool("sandbox", false, "create a sandbox business")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	*name = strings.TrimSpace(*name)
	if *name == "" || len(*name) > 200 {
		return usagef("--name is required (1 to 200 characters)")
	}
	mode := ledger.ModeLive
	if *sandbox {
		mode = ledger.ModeSandbox
	}
	return withStore(ctx, cfg, func(s *postgres.Store) error {
		b, secret, err := s.CreateBusiness(ctx, *name, mode)
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]string{"id": b.ID, "name": b.Name, "mode": string(b.Mode), "secret_key": secret})
	})
}

func keysCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: tally keys create --business BUS_… | tally keys revoke KEY_…")
	}
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
		business := fs.String("business", "", "business id")
		readOnly := fs.Bool("read-only", false, "create a read-only key")
		name := fs.String("name", "", "a label for the key")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if !ledger.ValidID(*business, ledger.PrefixBusiness) {
			return usagef("--business must be a business id (BUS_…)")
		}
		mode := ledger.KeyFull
		if *readOnly {
			mode = ledger.KeyReadOnly
		}
		return withStore(ctx, cfg, func(s *postgres.Store) error {
			k, secret, err := s.CreateAPIKey(ctx, *business, mode, *name)
			if err != nil {
				return err
			}
			return printJSON(stdout, map[string]string{"id": k.ID, "business_id": k.Business, "mode": string(k.Mode), "secret_key": secret})
		})
	case "revoke":
		if len(args) != 2 || !ledger.ValidID(args[1], ledger.PrefixKey) {
			return usagef("usage: tally keys revoke KEY_…")
		}
		return withStore(ctx, cfg, func(s *postgres.Store) error {
			if err := s.RevokeAPIKey(ctx, "", args[1]); err != nil {
				return err
			}
			return printJSON(stdout, map[string]any{"id": args[1], "revoked": true})
		})
	}
	return usagef("unknown keys command %q", args[0])
}

// devdbCmd manages the embedded development database. `start` prints its URL.
func devdbCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 || len(args) > 2 {
		return usagef("usage: tally devdb start [DATABASE]|stop|url [DATABASE]")
	}
	database := "tally"
	if len(args) == 2 {
		database = args[1]
	}
	root, err := projectRoot()
	if err != nil {
		return err
	}
	c, err := devdb.Find(root)
	if err != nil {
		return err
	}
	switch args[0] {
	case "start":
		url, err := c.Start(database)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, url)
		return nil
	case "url":
		fmt.Fprintln(stdout, c.URL(database))
		return nil
	case "stop":
		return c.Stop()
	}
	return usagef("unknown devdb command %q", args[0])
}

// projectRoot is the nearest directory upwards holding go.mod (the checkout), or
// the working directory when there is none.
func projectRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return dir, nil
		}
	}
}

// demoCmd creates the sandbox demo business on first run (its key is kept in
// .data/demo.json, which is git-ignored) and prints how to call the API.
func demoCmd(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	root, err := projectRoot()
	if err != nil {
		return err
	}
	path := filepath.Join(root, ".data", "demo.json")
	var id, secret string
	if raw, err := os.ReadFile(path); err == nil {
		parts := strings.SplitN(strings.TrimSpace(string(raw)), " ", 2)
		if len(parts) == 2 {
			id, secret = parts[0], parts[1]
		}
	}
	err = withStore(ctx, cfg, func(s *postgres.Store) error {
		if id != "" {
			if _, err := s.Authenticate(ctx, secret); err == nil {
				return nil
			}
		}
		b, sk, err := s.CreateBusiness(ctx, "Demo Business", ledger.ModeSandbox)
		if err != nil {
			return err
		}
		id, secret = b.ID, sk
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, []byte(id+" "+secret+"\n"), 0o600)
	})
	if err != nil {
		return err
	}
	base := "http://localhost" + cfg.Addr
	if !strings.HasPrefix(cfg.Addr, ":") {
		base = "http://" + cfg.Addr
	}
	fmt.Fprintf(stdout, `
Tally demo business (sandbox): %s
Secret key: %s

Try it:
  curl -s %s/v1/business -H 'Authorization: Bearer %s'
  curl -s %s/v1/customers -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{"type":"individual","email":"ada@example.com","first_name":"Ada","last_name":"Lovelace"}'
  curl -s %s/v1/balances -H 'Authorization: Bearer %s' -H 'X-BU-PROFILE-ID: CUS_…'   # the id printed by the call above

`, id, secret, base, secret, base, secret, base, secret)
	return nil
}
