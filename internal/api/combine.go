package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// Group commit for POST /v1/transfers and POST /v1/payouts (issue 8; the
// TigerBeetle lesson that batching beats per-request commits). A request that
// passed validation becomes a job on one queue; workers each take what is waiting
// (up to combineMax; while a batch is smaller than the worker's previous one it
// lingers up to combineLinger for more), split it by business and book each
// business's share in ONE transaction: the idempotency keys claimed and senders
// and recipients share-locked in one round trip (a sender no longer active, a
// recipient unknown or closed, is refused); payouts' wallets, then the risk list
// and fees of all in one statement; the ledger entries written as a set
// (Tx.RecordMany, which decides funds job by job in queue order exactly as
// one-at-a-time booking would); then the transfer and payout rows, events, audit
// entries and idempotency records. Each job keeps its own outcome: a refused one
// fails alone and the others commit. Under light load a batch is one job, and
// after a batch of one nothing waits for company. With TALLY_GROUP_COMMIT=false
// every job is a batch of one, run by its own request.
//
// Every job's result is decided by the worker; the handler waits for it without a
// deadline of its own (the transaction has the request timeout), so a client never
// sees an error for a transfer that then commits. A job still queued when its
// request's deadline passes is answered 503 without running.

// combineMax bounds one batch (one transaction).
const combineMax = 256

// combineLinger is how long a worker waits for company: until its batch is as
// large as its previous one, at most this long after it found the queue empty
// (combiner.gather). Under a steady load the clients a batch answered come back
// within it, so batches keep the size the load gives them instead of
// fragmenting; a lone request (previous batch of one) never waits. bench/ab.sh,
// alternating 10 s runs, without → with: at 32 clients 3,287 / 3,103 / 2,763 →
// 3,685 / 3,277 / 3,546 transfers/s (8.5 → 12.2 jobs a batch), payouts 2,824 /
// 2,845 → 3,158 / 3,028; at 8 clients 1,156 / 1,306 → 1,660 / 1,762; at 1 client
// 361 → 364 (p50 2.7 → 2.6 ms). A fixed target of 16 gained as much at 32
// clients and lost 7–13% at 8, where 16 never come.
const combineLinger = 2 * time.Millisecond

// combineWorkers is how many batches run at once: enough to keep PostgreSQL busy
// while the next batch gathers, few enough that batches grow under load and do
// not wait on each other's row locks. One per core, at least two: on 2 cores, 2
// gave 840–910 transfers/s at 32 clients, 4 gave 700–790, 8 gave 505, 1 gave 889.
func combineWorkers() int { return max(2, runtime.GOMAXPROCS(0)) }

// jobKind is what a job books.
type jobKind int

const (
	kindTransfer jobKind = iota
	kindPayout
)

type moneyJob struct {
	kind     jobKind
	business string
	customer string          // the audited customer: the sending one, if any
	transfer ledger.Transfer // kindTransfer
	payout   ledger.Payout   // kindPayout, validated; scale is its currency's
	scale    int32
	cs       ledger.Currencies
	key      string
	reqHash  []byte
	audit    postgres.Audit
	deadline time.Time
	done     chan jobResult // buffered: the worker never blocks on it
}

type jobResult struct {
	status   int
	body     []byte
	replayed bool
	err      error
}

type combiner struct {
	s      *Server
	inline bool // TALLY_GROUP_COMMIT=false: each job is a batch of one, run by its request
	jobs   chan *moneyJob
	linger time.Duration // combineLinger; tests shorten or lengthen it
	once   sync.Once
	// Counted for /metrics: jobs ÷ batches is the mean batch size.
	batches, booked atomic.Uint64
}

func newCombiner(s *Server) *combiner {
	return &combiner{s: s, inline: !s.cfg.GroupCommit, jobs: make(chan *moneyJob, 4*combineMax), linger: combineLinger}
}

// submit queues a job and waits for its result (or, inline, books it at once in
// a transaction of its own).
func (cb *combiner) submit(j *moneyJob) jobResult {
	j.done = make(chan jobResult, 1)
	if cb.inline {
		cb.run([]*moneyJob{j}, 0, 1)
		return <-j.done
	}
	cb.once.Do(func() {
		n := combineWorkers()
		for lane := range n {
			go cb.work(lane, n)
		}
	})
	cb.jobs <- j
	return <-j.done
}

// work runs batches; lane of lanes is the worker's share of the hot accounts'
// shard rows (ledger.LaneShard), so workers' batches never wait on each other
// there.
func (cb *combiner) work(lane, lanes int) {
	batch := make([]*moneyJob, 0, combineMax)
	last := 1
	for j := range cb.jobs {
		batch = cb.gather(batch[:0], j, last)
		last = len(batch)
		byBusiness := map[string][]*moneyJob{}
		var order []string
		now := time.Now()
		for _, j := range batch {
			if now.After(j.deadline) {
				j.done <- jobResult{err: ledger.Errorf(ledger.CodeUnavailable, "the server is too busy to book this request in time; retry with the same Idempotency-Key")}
				continue
			}
			if _, ok := byBusiness[j.business]; !ok {
				order = append(order, j.business)
			}
			byBusiness[j.business] = append(byBusiness[j.business], j)
		}
		for _, b := range order {
			cb.run(byBusiness[b], lane, lanes)
		}
	}
}

// gather completes the batch that starts with first: every job already queued,
// and, while it holds fewer than target, the jobs that arrive within cb.linger of
// the moment it found the queue empty (combineLinger). At most combineMax.
func (cb *combiner) gather(batch []*moneyJob, first *moneyJob, target int) []*moneyJob {
	batch = append(batch, first)
	var linger *time.Timer
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()
	for len(batch) < combineMax {
		select {
		case j := <-cb.jobs:
			batch = append(batch, j)
			continue
		default:
		}
		if len(batch) >= target {
			return batch
		}
		if linger == nil {
			linger = time.NewTimer(cb.linger)
		}
		select {
		case j := <-cb.jobs:
			batch = append(batch, j)
		case <-linger.C:
			return batch
		}
	}
	return batch
}

// run books one business's jobs in one transaction and answers every job.
func (cb *combiner) run(jobs []*moneyJob, lane, lanes int) {
	s := cb.s
	defer answerOnPanic(s.log, "combiner batch", jobs, func(j *moneyJob, err error) {
		select {
		case j.done <- jobResult{err: err}:
		default:
		}
	})
	cb.batches.Add(1)
	cb.booked.Add(uint64(len(jobs)))
	business := jobs[0].business
	results := make([]jobResult, len(jobs))
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	err := s.store.InTxAs(ctx, business, func(ctx context.Context, tx *postgres.Tx) error {
		clear(results) // the transaction may be retried
		// Everything after RecordMany's decisions is a write: sent in one round
		// trip at commit (postgres/pipeline.go).
		tx.PipelineWrites()

		// Idempotency keys: claimed together; a key twice in the batch is in use.
		var keys []string
		var hashes [][]byte
		var keyed []int
		seen := map[string]bool{}
		for i, j := range jobs {
			switch {
			case j.key == "":
			case seen[j.key]:
				results[i].err = postgres.IdempotencyInUse()
			default:
				seen[j.key] = true
				keys, hashes, keyed = append(keys, j.key), append(hashes, j.reqHash), append(keyed, i)
			}
		}
		// The keys are claimed, and every customer the jobs debit or pay is
		// share-locked, in one round trip (replays' customers too: harmless).
		stored, errs, statuses, err := tx.ClaimAndShareLock(ctx, business, keys, hashes, jobProfiles(jobs))
		if err != nil {
			return err
		}
		for k, i := range keyed {
			switch {
			case errs[k] != nil:
				results[i].err = errs[k]
			case stored[k] != nil:
				results[i] = jobResult{status: stored[k].StatusCode, body: stored[k].Body, replayed: true}
			}
		}
		live := make([]int, 0, len(jobs)) // jobs still to book, in queue order: the ledger decides funds in it
		for i := range jobs {
			if results[i].err == nil && !results[i].replayed {
				live = append(live, i)
			}
		}

		// Each kind's checks, then every entry as one set, in queue order.
		entries := make([]*ledger.Entry, len(jobs))
		payouts := make([]ledger.Payout, len(jobs)) // this attempt's copy of each payout
		profiles := checkSenders(business, jobs, live, results, statuses)
		live = slices.DeleteFunc(live, func(i int) bool { return results[i].err != nil })
		prepareTransfers(jobs, live, results, entries, profiles)
		// One hot-account shard for the whole batch, in the worker's lane: its
		// payouts share one fee row and one settlement row (ledger.EntryIDOnShard).
		shard := ledger.LaneShard(lane, lanes)
		holdID := func() string { return ledger.EntryIDOnShard(shard) }
		if err := preparePayouts(ctx, tx, business, jobs, live, results, entries, payouts, holdID); err != nil {
			return err
		}
		var es []ledger.Entry
		var esIdx []int
		for _, i := range live {
			if entries[i] != nil {
				es, esIdx = append(es, *entries[i]), append(esIdx, i)
			}
		}
		_, errs, err = tx.RecordMany(ctx, es)
		if err != nil {
			return err
		}
		var transfers []ledger.Transfer
		var placed []ledger.Payout
		for k, i := range esIdx {
			if errs[k] != nil {
				results[i].err = errs[k]
				continue
			}
			j := jobs[i]
			var dto any
			var event, message, profile string
			switch j.kind {
			case kindTransfer:
				tr := j.transfer
				tr.CreatedAt, tr.Status, tr.EntryID = es[k].CreatedAt, "completed", es[k].ID
				transfers = append(transfers, tr)
				dto, event, message, profile = toTransferDTO(j.cs, tr), "transfer.completed", "Transfer completed", tr.FromProfileID
			case kindPayout:
				p := payouts[i]
				placed = append(placed, p)
				dto, event, message, profile = toPayoutDTO(j.cs, p), "payout.pending", "Payout created", p.ProfileID
			}
			body, err := json.Marshal(envelope{Status: "success", Message: message, Data: dto})
			if err != nil {
				return err
			}
			results[i] = jobResult{status: fiber.StatusCreated, body: body}
			if err := tx.Event(ctx, business, event, profile, dto); err != nil {
				return err
			}
			if j.key != "" {
				if err := tx.SaveIdempotentResponse(ctx, business, j.key, j.reqHash, postgres.StoredResponse{StatusCode: fiber.StatusCreated, Body: body}); err != nil {
					return err
				}
			}
		}
		if err := tx.SaveTransfers(ctx, transfers); err != nil {
			return err
		}
		if err := tx.SavePayouts(ctx, placed); err != nil {
			return err
		}
		// The audit log: every job of a customer, booked or refused (as write and
		// auditFailure record them), replays excepted.
		for i, j := range jobs {
			if j.customer == "" || results[i].replayed {
				continue
			}
			status := results[i].status
			if results[i].err != nil {
				var ok bool
				if status, ok = auditedStatus(results[i].err); !ok {
					continue
				}
			}
			a := j.audit
			a.StatusCode = status
			if err := tx.Audit(ctx, business, j.customer, a); err != nil {
				return err
			}
		}
		return nil
	})
	for i, j := range jobs {
		if err != nil {
			j.done <- jobResult{err: err}
			continue
		}
		j.done <- results[i]
	}
}

// answerOnPanic, deferred by a batch runner (combiner.run, readCombiner.run),
// recovers a panic: a bug must not leave the batch's requests waiting forever,
// nor kill the worker. It logs the panic and answers every job with it as the
// error (answer must not block: a job may have been answered already).
func answerOnPanic[J any](log *slog.Logger, what string, jobs []J, answer func(J, error)) {
	if r := recover(); r != nil {
		log.Error(what+" panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		for _, j := range jobs {
			answer(j, fmt.Errorf("%s: %v", what, r))
		}
	}
}

// jobProfiles lists the customers the jobs debit or pay, each once: the rows
// ClaimAndShareLock share-locks.
func jobProfiles(jobs []*moneyJob) []string {
	seen := map[string]bool{}
	var ids []string
	add := func(id string) {
		if strings.HasPrefix(id, ledger.PrefixCustomer) && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, j := range jobs {
		if j.kind == kindTransfer {
			add(j.transfer.FromProfileID)
			add(j.transfer.ToProfileID)
		} else {
			add(j.payout.ProfileID)
		}
	}
	return ids
}

// checkSenders refuses a live job whose sender is not active, by the status its
// row had when the batch share-locked it (the status X-BU-PROFILE-ID resolved to
// may be older, see postgres.ProfileCustomer; this one is current and cannot change
// before commit). It returns the statuses for the recipients' checks.
func checkSenders(business string, jobs []*moneyJob, live []int, results []jobResult,
	st map[string]ledger.CustomerStatus) recipientSet {
	for _, i := range live {
		from := jobs[i].transfer.FromProfileID
		if jobs[i].kind == kindPayout {
			from = jobs[i].payout.ProfileID
		}
		if status, ok := st[from]; ok && status != ledger.CustomerActive {
			results[i].err = ledger.Errorf(ledger.CodeProfileInactive, "customer %s is %s and cannot send money", from, status)
		}
	}
	return recipientSet{business: business, status: st}
}

// prepareTransfers checks the live transfer jobs' recipients (see
// checkRecipient) and gives each that passes its entry.
func prepareTransfers(jobs []*moneyJob, live []int, results []jobResult, entries []*ledger.Entry, recipients recipientSet) {
	at := time.Now().UTC().Truncate(time.Microsecond)
	for _, i := range live {
		if jobs[i].kind != kindTransfer {
			continue
		}
		tr := jobs[i].transfer
		if err := recipients.check(tr.ToProfileID, "to_profile_id"); err != nil {
			results[i].err = err
			continue
		}
		tr.CreatedAt = at
		e := postgres.TransferEntry(tr)
		entries[i] = &e
	}
}

// preparePayouts applies the payout rules that need the database to the live
// payout jobs — the wallet of each that names one, then the risk list and fees of
// all in one statement (see preparePayout) — and gives each that passes its hold.
func preparePayouts(ctx context.Context, tx *postgres.Tx, business string, jobs []*moneyJob, live []int,
	results []jobResult, entries []*ledger.Entry, payouts []ledger.Payout, holdID func() string) error {
	var qs []postgres.PayoutTermsQuery
	var idx []int
	for _, i := range live {
		j := jobs[i]
		if j.kind != kindPayout {
			continue
		}
		p := j.payout
		if p.WalletID != "" {
			addr, err := tx.WalletAddress(ctx, business, p.ProfileID, p.WalletID, p.Network)
			if err != nil {
				if postgres.Unavailable(err) || ledger.ErrorCode(err) == ledger.CodeInternal {
					return err
				}
				results[i].err = err
				continue
			}
			p.Address = addr
		}
		payouts[i] = p
		qs, idx = append(qs, postgres.PayoutTermsQuery{Currency: p.Currency, Network: p.Network, Address: p.Address}), append(idx, i)
	}
	risky, fees, err := tx.PayoutTermsMany(ctx, business, qs)
	if err != nil {
		return err
	}
	for k, i := range idx {
		if risky[k] {
			results[i].err = ledger.ParamErrorf(ledger.CodeHighRiskAddress, "address", "the destination address is on the risk list")
			continue
		}
		p := &payouts[i]
		p.Fee = fees[k].For(p.Amount, jobs[i].scale)
		e := postgres.PayoutHold(p, holdID())
		entries[i] = &e
	}
	return nil
}

// combine books j (its kind's fields set by the handler) through the combiner
// and answers the request: its checks, effects, event, audit entry and
// idempotency record, in a transaction shared with the jobs that arrived
// alongside it.
func (s *Server) combine(c *fiber.Ctx, sc ledger.Scope, j *moneyJob) error {
	p, ok := principalFrom(c)
	if !ok {
		return ledger.Errorf(ledger.CodeUnauthenticated, "credential required")
	}
	key, reqHash, err := idempotencyOf(c)
	if err != nil {
		return err
	}
	j.business, j.key, j.reqHash = p.business.ID, key, reqHash
	j.audit, j.deadline = s.audit(c, 0), time.Now().Add(s.cfg.RequestTimeout)
	if sc.Customer != nil {
		j.customer = sc.Customer.ID
	}
	res := s.combiner.submit(j)
	if res.err != nil {
		return res.err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	if res.replayed {
		c.Set("Idempotent-Replayed", "true")
	}
	return c.Status(res.status).Send(res.body)
}

// auditedStatus is the status a refused request is audited with, and whether
// it is audited at all (see auditFailure).
func auditedStatus(err error) (int, bool) {
	code := ledger.ErrorCode(err)
	status, ok := statusByCode[code]
	if !ok || code == ledger.CodeNotFound || code == ledger.CodeInternal || code == ledger.CodeUnavailable {
		return 0, false
	}
	return status, true
}
