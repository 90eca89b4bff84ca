package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

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

// demoState is what `tally demo` keeps in .data/demo.json (git-ignored) so that
// every `make run` prints the same working key.
type demoState struct {
	BusinessID string `json:"business_id"`
	SecretKey  string `json:"secret_key"`
	CustomerID string `json:"customer_id"`
}

// demoCmd creates the sandbox demo business and one demo customer on first run
// and prints how to call the API.
func demoCmd(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	root, err := projectRoot()
	if err != nil {
		return err
	}
	path := filepath.Join(root, ".data", "demo.json")
	var st demoState
	if raw, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(raw, &st)
	}
	err = withStore(ctx, cfg, func(s *postgres.Store) error {
		if st.SecretKey != "" {
			if _, err := s.Authenticate(ctx, st.SecretKey); err == nil {
				if _, err := s.FindCustomer(ctx, st.BusinessID, st.CustomerID); err == nil {
					return nil
				}
			}
		}
		b, sk, err := s.CreateBusiness(ctx, "Demo Business", ledger.ModeSandbox)
		if err != nil {
			return err
		}
		email, first, last := "ada@example.com", "Ada", "Lovelace"
		cust, err := ledger.NewCustomer(b.ID, ledger.CustomerPatch{Type: ptr("individual"), Email: &email,
			FirstName: &first, LastName: &last}, time.Now().UTC().Truncate(time.Microsecond))
		if err != nil {
			return err
		}
		if err := s.InTx(ctx, func(ctx context.Context, tx *postgres.Tx) error { return tx.CreateCustomer(ctx, cust) }); err != nil {
			return err
		}
		st = demoState{BusinessID: b.ID, SecretKey: sk, CustomerID: cust.ID}
		raw, _ := json.Marshal(st)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, raw, 0o600)
	})
	if err != nil {
		return err
	}
	base := "http://localhost" + cfg.Addr
	if !strings.HasPrefix(cfg.Addr, ":") {
		base = "http://" + cfg.Addr
	}
	fmt.Fprintf(stdout, `
Tally demo business (sandbox): %[1]s
Secret key (keep it secret):   %[2]s
Demo customer:                 %[3]s

Try it once the server below is listening on %[4]s:
  curl -s %[4]s/v1/business -H 'Authorization: Bearer %[2]s'
  curl -s %[4]s/v1/customers -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' -d '{"type":"individual","email":"grace@example.com","first_name":"Grace","last_name":"Hopper"}'
  curl -s %[4]s/v1/balances -H 'Authorization: Bearer %[2]s' -H 'X-BU-PROFILE-ID: %[3]s'

`, st.BusinessID, st.SecretKey, st.CustomerID, base)
	return nil
}

func ptr[T any](v T) *T { return &v }
