package api

// Row-level security on reads (issue 9, DESIGN.md §4).
//
// Goal: every business-scoped read of the store runs confined to its business by
// PostgreSQL itself, not only by its own WHERE clause. Method: a second store whose
// pools both run as the session role tally_app (postgres.OpenApp: -c role=tally_app
// at login), which owns no table, cannot bypass RLS, and with app.business_id unset
// sees no row of any tenant table. Every read method, called on that store with business A and the ids of
// isoSetup's fixture, must still find A's data: it can only do so by confining its
// connection to A (Store.AsBusiness), so a method that reads straight from the pool
// finds nothing and fails here. The same calls with business B must find nothing.
// A source scan lists every Store method with a business parameter; one that is
// neither probed here nor exempted with a reason fails the test.

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// readProbe calls one store method as business and reports whether it found the
// fixture's data (a row, a non-empty list, a non-zero balance).
type readProbe func(ctx context.Context, st *postgres.Store, business string, f isoFixture) (bool, error)

// rlsExempt are the Store methods with a business parameter that are not reads of
// a business request, with the reason.
var rlsExempt = map[string]string{
	"CreateAPIKey":      "operator CLI (tally keys create); the API creates keys through Tx.CreateAPIKey under ActAs",
	"SetFee":            "operator CLI (tally fees set)",
	"Verify":            "operator CLI (tally verify) checks invariants across every business",
	"CustomerSearchSQL": "renders SQL for EXPLAIN; runs no query",
	"AsBusiness":        "the confinement itself",
	"CachedProfileCustomer": "no query: the in-process cache, keyed by business, of what ProfileCustomer read " +
		"(probed above) for that business",
	"InTxAs": "the confinement of write transactions (ActAs; internal/postgres/rls_test.go)",
}

func page() ledger.Page { return ledger.Page{Limit: 50} }

func found[T any](v []T, err error) (bool, error) { return len(v) > 0, err }

func exists(err error) (bool, error) {
	if ledger.ErrorCode(err) == ledger.CodeNotFound {
		return false, nil
	}
	return err == nil, err
}

var rlsReadProbes = map[string]readProbe{
	"ListAPIKeys": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		keys, err := st.ListAPIKeys(ctx, b)
		return containsKey(keys, f.keyA), err
	},
	"FindAPIKeys": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		keys, _, err := st.FindAPIKeys(ctx, b, page())
		return containsKey(keys, f.keyA), err
	},
	"FindAPIKey": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		_, err := st.FindAPIKey(ctx, b, f.keyA)
		return exists(err)
	},
	"RevokeAPIKey": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		return exists(st.RevokeAPIKey(ctx, b, f.keyA)) // revoking twice succeeds: A's key is read-only and unused here
	},
	"FindQuote": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		_, err := st.FindQuote(ctx, b, f.cusA, f.quoA)
		return exists(err)
	},
	"FindConversion": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		_, err := st.FindConversion(ctx, b, f.cusA, f.cnvA)
		return exists(err)
	},
	"ListConversions": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		return found(st.ListConversions(ctx, b, f.cusA, page()))
	},
	"FindCustomer": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		_, err := st.FindCustomer(ctx, b, f.cusA)
		return exists(err)
	},
	"ProfileCustomer": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		_, err := st.ProfileCustomer(ctx, b, f.cusA) // a miss: its cache is keyed by business
		return exists(err)
	},
	"FindCustomers": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		// Without q: a search (q) runs unconfined, see Store.FindCustomers.
		return found(st.FindCustomers(ctx, b, ledger.CustomerFilter{ExternalID: "iso-ext-a"}, page()))
	},
	"FindAuditLog": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		return found(st.FindAuditLog(ctx, b, f.cusA, page()))
	},
	"FindDeposit": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		_, err := st.FindDeposit(ctx, b, f.cusA, f.depA)
		return exists(err)
	},
	"ListDeposits": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		return found(st.ListDeposits(ctx, b, f.cusA, page()))
	},
	"ListDepositAddresses": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		return found(st.ListDepositAddresses(ctx, b, f.cusA, page()))
	},
	"ProfileBalances": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		return found(st.ProfileBalances(ctx, b, f.cusA))
	},
	"ProfileBalancesMany": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		m, err := st.ProfileBalancesMany(ctx, b, []string{f.cusA})
		return len(m) > 0, err
	},
	"AccountBalance": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		bal, err := st.AccountBalance(ctx, b, ledger.Account{Owner: f.cusA, Purpose: ledger.PurposeMain, Currency: "USD"})
		return !bal.IsZero(), err
	},
	"History": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		return found(st.History(ctx, b, f.cusA, postgres.HistoryFilter{}, page()))
	},
	"FindPayout": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		_, err := st.FindPayout(ctx, b, f.cusA, f.payA)
		return exists(err)
	},
	"ListPayouts": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		return found(st.ListPayouts(ctx, b, f.cusA, "", page()))
	},
	"FindTransfer": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		_, err := st.FindTransfer(ctx, b, f.cusA, f.trfA)
		return exists(err)
	},
	"ListTransfers": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		return found(st.ListTransfers(ctx, b, f.cusA, page()))
	},
	"FindWallets": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		return found(st.FindWallets(ctx, b, f.cusA, page()))
	},
	"FindWallet": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		_, err := st.FindWallet(ctx, b, f.walA)
		return exists(err)
	},
	"FindWebhookEndpoint": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		_, err := st.FindWebhookEndpoint(ctx, b, f.whkA)
		return exists(err)
	},
	"FindWebhookEndpoints": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		return found(st.FindWebhookEndpoints(ctx, b, page()))
	},
	"FindEvents": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		evs, err := st.FindEvents(ctx, b, postgres.EventFilter{}, page())
		for _, e := range evs {
			if e.ID == f.evtA {
				return true, err
			}
		}
		return false, err
	},
	"FindEvent": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		_, err := st.FindEvent(ctx, b, "", f.evtA)
		return exists(err)
	},
	"FindWebhookAttempts": func(ctx context.Context, st *postgres.Store, b string, f isoFixture) (bool, error) {
		return found(st.FindWebhookAttempts(ctx, b, f.attemptEvent, page()))
	},
}

func containsKey(keys []ledger.APIKey, id string) bool {
	for _, k := range keys {
		if k.ID == id {
			return true
		}
	}
	return false
}

// appRoleStore returns a store both of whose pools are sessions of tally_app: the
// one Store.AsBusiness confines (as the server's), and the one unconfined reads
// would use, where nothing ever sets app.business_id and so RLS shows nothing.
func appRoleStore(t *testing.T) (st *postgres.Store, bare *bun.DB) {
	t.Helper()
	ctx := context.Background()
	open := func() *bun.DB {
		db, err := postgres.OpenApp(ctx, pgtest.DB(t), pgtest.URL(t), postgres.Options{PoolSize: 4, StatementTimeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if db == nil {
			t.Skip("row-level security is not set up in this database (the migrating role may not create roles)")
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	bare = open()
	return postgres.New(bare).WithApp(open()), bare
}

// storeMethodsWithBusiness lists the exported *Store methods of internal/postgres
// that take a parameter named business.
func storeMethodsWithBusiness(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join("..", "postgres", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || !fn.Name.IsExported() {
				continue
			}
			star, ok := fn.Recv.List[0].Type.(*ast.StarExpr)
			if !ok || star.X.(*ast.Ident).Name != "Store" {
				continue
			}
			for _, p := range fn.Type.Params.List {
				for _, n := range p.Names {
					if n.Name == "business" {
						out = append(out, fn.Name.Name)
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestRLSConfinesEveryStoreRead(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	a := newClient(t, srv, ledger.ModeSandbox)
	b := newClient(t, srv, ledger.ModeSandbox)
	f := isoSetup(t, a, b)
	// An event after A's endpoint exists, so it has a delivery to record an attempt of.
	a.do("PATCH", "/v1/customers/"+f.cusA, map[string]any{"metadata": map[string]string{"rls": "reads"}}).must(t, 200)
	f.attemptEvent = webhookAttemptOf(t, f.busA)
	app, bare := appRoleStore(t)
	ctx := context.Background()

	var seen int
	if err := bare.QueryRowContext(ctx, `SELECT count(*) FROM customers`).Scan(&seen); err != nil {
		t.Fatal(err)
	}
	if seen != 0 {
		t.Fatalf("the app role sees %d customers with no business set; want 0 (fail closed)", seen)
	}

	methods := storeMethodsWithBusiness(t)
	if len(methods) < 20 {
		t.Fatalf("source scan found only %d Store methods with a business parameter: %v", len(methods), methods)
	}
	for _, m := range methods {
		_, probed := rlsReadProbes[m]
		if _, exempt := rlsExempt[m]; !probed && !exempt {
			t.Errorf("Store.%s takes a business but is not in rlsReadProbes (internal/api/rls_reads_test.go): "+
				"confine it with readAs/AsBusiness and add a probe, or exempt it with the reason", m)
		}
	}
	for name, probe := range rlsReadProbes {
		t.Run(name, func(t *testing.T) {
			got, err := probe(ctx, app, f.busA, f)
			if err != nil {
				t.Fatalf("as A: %v", err)
			}
			if !got {
				t.Fatalf("as A on the tally_app login, %s found nothing of A's: it reads outside a confined connection", name)
			}
			got, err = probe(ctx, app, b.business.ID, f)
			if err != nil {
				t.Fatalf("as B: %v", err)
			}
			if got {
				t.Fatalf("as B, %s found A's data", name)
			}
		})
	}
}

// webhookAttemptOf records one delivery attempt of one of business's events (the
// test server runs no delivery worker) and returns the event id.
func webhookAttemptOf(t *testing.T, business string) string {
	t.Helper()
	var delivery, event, endpoint string
	db := pgtest.DB(t)
	ctx := context.Background()
	if err := db.DB.QueryRowContext(ctx, `SELECT id, event_id, endpoint_id FROM webhook_deliveries WHERE business_id = $1 LIMIT 1`,
		business).Scan(&delivery, &event, &endpoint); err != nil {
		t.Fatalf("a delivery of A's events: %v", err)
	}
	if _, err := db.DB.ExecContext(ctx, `INSERT INTO webhook_attempts (business_id, delivery_id, event_id, endpoint_id, attempt, url, status_code, latency_ms)
		VALUES ($1, $2, $3, $4, 1, 'http://127.0.0.1:9/iso-a', 500, 3)`, business, delivery, event, endpoint); err != nil {
		t.Fatal(err)
	}
	return event
}
