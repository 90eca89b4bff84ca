package postgres_test

// A profile's transfers are listed by the ledger lines that moved them, and the
// ledger history reads its two partial indexes (transfer lines and the others)
// as one (migration 20261207000600).

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// bookAt books transfers in the order given, each dated at its CreatedAt, as the
// API does (one posted entry each, then the transfer rows).
func bookAt(t *testing.T, s *postgres.Store, trs ...ledger.Transfer) {
	t.Helper()
	err := s.InTx(context.Background(), func(ctx context.Context, tx *postgres.Tx) error {
		es := make([]ledger.Entry, len(trs))
		for i := range trs {
			trs[i].Status = "completed"
			es[i] = postgres.TransferEntry(trs[i])
		}
		_, errs, err := tx.RecordMany(ctx, es)
		if err != nil {
			return err
		}
		for i := range trs {
			if errs[i] != nil {
				return errs[i]
			}
			trs[i].EntryID = es[i].ID
		}
		return tx.SaveTransfers(ctx, trs)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// recordAt records posted entries of one business, dated as given.
func recordAt(t *testing.T, s *postgres.Store, es ...ledger.Entry) {
	t.Helper()
	err := s.InTx(context.Background(), func(ctx context.Context, tx *postgres.Tx) error {
		_, errs, err := tx.RecordMany(ctx, es)
		for _, e := range errs {
			if e != nil {
				return e
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// allPages pages through a list limit at a time, as the API does (one row more
// than the page tells whether another follows), and returns each row's id;
// check sees every row and returns the row's id and keyset position.
func allPages[T any](t *testing.T, limit int, page func(ledger.Page) ([]T, error),
	check func(T) (id string, pos ledger.Cursor)) []string {
	t.Helper()
	var ids []string
	var after *ledger.Cursor
	for range 100 {
		got, err := page(ledger.Page{Limit: limit, After: after})
		if err != nil {
			t.Fatal(err)
		}
		more := len(got) > limit
		if more {
			got = got[:limit]
		}
		var pos ledger.Cursor
		for _, row := range got {
			var id string
			id, pos = check(row)
			ids = append(ids, id)
		}
		if !more {
			return ids
		}
		after = &pos
	}
	t.Fatal("pages do not end")
	return nil
}

// allTransfers is every transfer of a profile's list, by id.
func allTransfers(t *testing.T, s *postgres.Store, business, profile string, limit int) []string {
	t.Helper()
	return allPages(t, limit, func(p ledger.Page) ([]postgres.ListedTransfer, error) {
		return s.ListTransfers(context.Background(), business, profile, p)
	}, func(tr postgres.ListedTransfer) (string, ledger.Cursor) {
		if tr.FromProfileID != profile && tr.ToProfileID != profile {
			t.Fatalf("%s listed transfer %s from %s to %s", profile, tr.ID, tr.FromProfileID, tr.ToProfileID)
		}
		if !tr.Position.CreatedAt.Equal(tr.CreatedAt) || !strings.HasPrefix(tr.Position.ID, ledger.PrefixLine) {
			t.Fatalf("transfer %s at %s listed at %+v, want its line's time and id", tr.ID, tr.CreatedAt, tr.Position)
		}
		return tr.ID, tr.Position
	})
}

// allHistory is every line of a profile's history, by id.
func allHistory(t *testing.T, s *postgres.Store, business, profile string, f postgres.HistoryFilter, limit int) []string {
	t.Helper()
	return allPages(t, limit, func(p ledger.Page) ([]postgres.Line, error) {
		return s.History(context.Background(), business, profile, f, p)
	}, func(l postgres.Line) (string, ledger.Cursor) {
		return l.ID, ledger.Cursor{CreatedAt: l.CreatedAt, ID: l.ID}
	})
}

// TestTransfersListedByTheirLines: a profile's transfers come newest first, in
// the order of the profile's lines among equal timestamps, on pages of any size
// (a page boundary inside a tie loses and repeats nothing), with deposits
// between them; a transfer line that names no transfer (the ledger's own tests
// book such lines) is skipped without shortening a page, and another business's
// transfer between the same profile ids is not listed. The history merges the
// transfer lines with the others in (created_at, id) order.
func TestTransfersListedByTheirLines(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	p, q, r := ledger.NewID(ledger.PrefixCustomer), ledger.NewID(ledger.PrefixCustomer), ledger.NewID(ledger.PrefixCustomer)
	pgtest.Fund(t, b.ID, p, "USD", "100")
	pgtest.Fund(t, b.ID, q, "USD", "100")
	at := time.Now().UTC().Truncate(time.Microsecond).Add(time.Second)
	tr := func(from, to string, at time.Time) ledger.Transfer {
		return ledger.Transfer{ID: ledger.NewID(ledger.PrefixTransfer), Business: b.ID, FromProfileID: from, ToProfileID: to,
			Currency: "USD", Amount: dec("1.25"), CreatedAt: at}
	}
	deposit := func(to string, at time.Time) ledger.Entry {
		return ledger.Entry{ID: ledger.NewID(ledger.PrefixEntry), Business: b.ID, Kind: "deposit", Phase: ledger.PhasePosted, CreatedAt: at,
			Postings: []ledger.Posting{{Debit: ledger.BusinessAccount(b.ID, ledger.SettlementPurpose("x"), "USD"), Credit: main(to, "USD"),
				Amount: dec("2"), Type: ledger.LineDeposit}}}
	}
	// Two transfers of one instant, the later id booked first: its lines get the
	// smaller line ids (ledger.NewID counts up within a process), so the list,
	// in line order, has lo before hi.
	lo, hi := tr(p, q, at), tr(p, q, at)
	if lo.ID > hi.ID {
		lo, hi = hi, lo
	}
	bookAt(t, s, hi)
	bookAt(t, s, lo)
	recordAt(t, s, deposit(p, at.Add(time.Millisecond)), deposit(q, at.Add(time.Millisecond)))
	back := tr(q, p, at.Add(2*time.Millisecond))
	third := tr(p, r, at.Add(3*time.Millisecond))
	third.Description, third.Metadata = "rent", map[string]string{"order": "42"}
	bookAt(t, s, back, third)
	orphan := transfer(b.ID, p, q, "USD", "0.5") // a transfer line with no transfer row
	orphan.CreatedAt, orphan.ResourceID = at.Add(4*time.Millisecond), ledger.NewID(ledger.PrefixTransfer)
	recordAt(t, s, orphan, deposit(p, at.Add(5*time.Millisecond)))
	// A transfer of another business between the same ids lists nowhere here.
	other, _ := pgtest.Business(t, ledger.ModeSandbox)
	pgtest.Fund(t, other.ID, p, "USD", "10")
	bookAt(t, s, ledger.Transfer{ID: ledger.NewID(ledger.PrefixTransfer), Business: other.ID, FromProfileID: p, ToProfileID: q,
		Currency: "USD", Amount: dec("1"), CreatedAt: at.Add(6 * time.Millisecond)})

	want := map[string][]string{
		p: {third.ID, back.ID, lo.ID, hi.ID},
		q: {back.ID, lo.ID, hi.ID},
		r: {third.ID},
	}
	for profile, ids := range want {
		for _, limit := range []int{1, 2, 3, 20} {
			if got := allTransfers(t, s, b.ID, profile, limit); !slices.Equal(got, ids) {
				t.Errorf("profile %s, pages of %d: transfers %v, want %v", profile, limit, got, ids)
			}
		}
	}
	got, err := s.ListTransfers(context.Background(), b.ID, p, ledger.Page{Limit: 10})
	if err != nil || len(got) != 4 {
		t.Fatalf("ListTransfers = %d transfers, %v", len(got), err)
	}
	if g := got[0]; g.ID != third.ID || g.FromProfileID != p || g.ToProfileID != r || !g.Amount.Equal(dec("1.25")) ||
		g.Currency != "USD" || g.Status != "completed" || !g.CreatedAt.Equal(third.CreatedAt) || g.EntryID == "" ||
		g.Description != "rent" || g.Metadata["order"] != "42" || g.Business != b.ID {
		t.Errorf("first transfer = %+v, want %+v", g, third)
	}

	// The history: every visible line of the profile, newest first by (created_at, id).
	db := s.DB().DB
	lineIDs := func(profile, cond string) []string {
		return column(t, db, `SELECT id FROM ledger_lines WHERE business_id = $1 AND owner_id = $2 AND visible`+cond+`
			ORDER BY created_at DESC, id DESC`, b.ID, profile)
	}
	for _, c := range []struct {
		typ, cond string
	}{{"", ""}, {"transfer", " AND type = 'transfer'"}, {"deposit", " AND type = 'deposit'"}, {"adjustment", " AND type = 'adjustment'"}} {
		ids := lineIDs(p, c.cond)
		if c.typ == "" && len(ids) != 8 { // funding, 5 transfer lines (one orphan), 2 deposits
			t.Fatalf("profile p has %d visible lines, want 8: %v", len(ids), ids)
		}
		for _, limit := range []int{1, 2, 4, 50} {
			if got := allHistory(t, s, b.ID, p, postgres.HistoryFilter{Type: c.typ}, limit); !slices.Equal(got, ids) {
				t.Errorf("history type %q, pages of %d: %v, want %v", c.typ, limit, got, ids)
			}
		}
	}
}

// TestTransferAndHistoryPagesReadTheirIndexes: a profile with many deposits and
// a few older transfers. The transfer list reads the transfer lines only, not the
// deposits in front of them; a history page reads about a page from each of the
// two partial indexes. With one index for all visible lines the transfer list
// went through every deposit.
func TestTransferAndHistoryPagesReadTheirIndexes(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	p, q := ledger.NewID(ledger.PrefixCustomer), ledger.NewID(ledger.PrefixCustomer)
	pgtest.Fund(t, b.ID, p, "USD", "100")
	at := time.Now().UTC().Truncate(time.Microsecond)
	var trs []ledger.Transfer
	for i := range 3 {
		trs = append(trs, ledger.Transfer{ID: ledger.NewID(ledger.PrefixTransfer), Business: b.ID, FromProfileID: p, ToProfileID: q,
			Currency: "USD", Amount: dec("1"), CreatedAt: at.Add(time.Duration(i) * time.Millisecond)})
	}
	bookAt(t, s, trs...)
	const deposits = 2000
	es := make([]ledger.Entry, deposits)
	for i := range es {
		es[i] = ledger.Entry{ID: ledger.NewID(ledger.PrefixEntry), Business: b.ID, Kind: "deposit", Phase: ledger.PhasePosted,
			CreatedAt: at.Add(time.Second + time.Duration(i)*time.Microsecond),
			Postings: []ledger.Posting{{Debit: ledger.BusinessAccount(b.ID, ledger.SettlementPurpose("x"), "USD"), Credit: main(p, "USD"),
				Amount: dec("1"), Type: ledger.LineDeposit}}}
	}
	recordAt(t, s, es...)

	// Sequential scans off: the shared test database's transfers table is small
	// enough for the planner to scan it whole instead of three key lookups.
	read, plan := examinedWith(t, "SET LOCAL enable_seqscan = off", postgres.ListTransfersFirstSQL, b.ID, p, 21)
	if read > 50 {
		t.Errorf("first transfer page of a profile with %d deposits and 3 transfers read %d rows\n%s", deposits, read, plan)
	}
	if !strings.Contains(plan, "ledger_lines_transfers") {
		t.Errorf("transfer page does not read ledger_lines_transfers\n%s", plan)
	}
	query, args := postgres.HistoryQuery(b.ID, p, postgres.HistoryFilter{}, ledger.Page{Limit: 20})
	read, plan = examined(t, query, args...)
	if read > 100 {
		t.Errorf("first history page read %d rows\n%s", read, plan)
	}
	for _, index := range []string{"ledger_lines_transfers", "ledger_lines_history"} {
		if !strings.Contains(plan, index) {
			t.Errorf("history page plan has no %s\n%s", index, plan)
		}
	}
}

// TestVerifyNamesTransfersNotListedByTheirLines: invariant 9 names a transfer
// without its lines and a transfer with a third line naming it.
func TestVerifyNamesTransfersNotListedByTheirLines(t *testing.T) {
	t.Parallel()
	const check = "9 every transfer is listed by its two lines"
	s := pgtest.Store(t)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	p, q := ledger.NewID(ledger.PrefixCustomer), ledger.NewID(ledger.PrefixCustomer)
	pgtest.Fund(t, b.ID, p, "USD", "10")
	good := ledger.Transfer{ID: ledger.NewID(ledger.PrefixTransfer), Business: b.ID, FromProfileID: p, ToProfileID: q,
		Currency: "USD", Amount: dec("1"), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	bookAt(t, s, good)
	inTestTx(t, func(tx *sql.Tx) {
		if got := violationsOf(t, tx, check, b.ID); len(got) != 0 {
			t.Fatalf("booked transfer: %v", got)
		}
		bare := ledger.NewID(ledger.PrefixTransfer)
		if _, err := tx.Exec(`INSERT INTO transfers (business_id, id, from_profile_id, to_profile_id, currency, amount, entry_id, created_at)
			VALUES ($1, $2, $3, $4, 'USD', 1, $5, now())`, b.ID, bare, p, q, ledger.NewID(ledger.PrefixEntry)); err != nil {
			t.Fatal(err)
		}
		// A copy of the good transfer's credit line under another entry, owned by a third profile.
		if _, err := tx.Exec(`INSERT INTO ledger_lines SELECT (jsonb_populate_record(NULL::ledger_lines, to_jsonb(l) ||
				jsonb_build_object('entry_id', $3::text, 'id', $4::text, 'owner_id', $5::text))).*
			FROM ledger_lines l WHERE business_id = $1 AND resource_id = $2 AND direction = 'credit'`,
			b.ID, good.ID, ledger.NewID(ledger.PrefixEntry), ledger.NewID(ledger.PrefixLine), ledger.NewID(ledger.PrefixCustomer)); err != nil {
			t.Fatal(err)
		}
		got := violationsOf(t, tx, check, b.ID)
		slices.Sort(got)
		if len(got) != 2 || !strings.HasPrefix(got[0], b.ID+" transfer "+good.ID+": 3 transfer lines") ||
			got[1] != b.ID+" transfer "+bare+": no transfer lines" {
			t.Fatalf("violations = %q, want the bare transfer and the one with 3 lines", got)
		}
	})
}
