package api

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// Group commit for POST /v1/transfers (issue 8; the TigerBeetle lesson that
// batching beats per-request commits). A request that passed validation becomes
// a transferJob on one queue; a few workers each take what is waiting (up to
// combineMax), split it by business and book each business's share in ONE
// transaction: the idempotency keys claimed together, the recipients share-locked
// together, the ledger entries written as a set (Tx.BookTransfers, which decides
// funds job by job in queue order exactly as one-at-a-time booking would), then the
// transfer rows, events, audit entries and idempotency records in one flush. Each
// job keeps its own outcome: a refused transfer (insufficient funds, unknown or
// closed recipient, a key in use) fails alone and the others commit. Under light
// load a batch is one job, so nothing waits for company.
//
// Every job's result is decided by the worker; the handler waits for it without a
// deadline of its own (the transaction has the request timeout), so a client never
// sees an error for a transfer that then commits. A job still queued when its
// request's deadline passes is answered 503 without running.

// combineMax bounds one batch (one transaction).
const combineMax = 256

// combineWorkers is how many batches run at once: enough to keep PostgreSQL busy
// while the next batch gathers, few enough that batches grow under load.
const combineWorkers = 2

type transferJob struct {
	business string
	customer string // the audited customer: the sending one, if any
	transfer ledger.Transfer
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
	s    *Server
	jobs chan *transferJob
	once sync.Once
}

func newCombiner(s *Server) *combiner {
	return &combiner{s: s, jobs: make(chan *transferJob, 4*combineMax)}
}

// submit queues a job and waits for its result.
func (cb *combiner) submit(j *transferJob) jobResult {
	cb.once.Do(func() {
		for range combineWorkers {
			go cb.work()
		}
	})
	j.done = make(chan jobResult, 1)
	cb.jobs <- j
	return <-j.done
}

func (cb *combiner) work() {
	batch := make([]*transferJob, 0, combineMax)
	for j := range cb.jobs {
		batch = append(batch[:0], j)
	gather:
		for len(batch) < combineMax {
			select {
			case j := <-cb.jobs:
				batch = append(batch, j)
			default:
				break gather
			}
		}
		byBusiness := map[string][]*transferJob{}
		var order []string
		now := time.Now()
		for _, j := range batch {
			if now.After(j.deadline) {
				j.done <- jobResult{err: ledger.Errorf(ledger.CodeUnavailable, "the server is too busy to book this transfer in time; retry with the same Idempotency-Key")}
				continue
			}
			if _, ok := byBusiness[j.business]; !ok {
				order = append(order, j.business)
			}
			byBusiness[j.business] = append(byBusiness[j.business], j)
		}
		for _, b := range order {
			cb.run(byBusiness[b])
		}
	}
}

// run books one business's jobs in one transaction and answers every job.
func (cb *combiner) run(jobs []*transferJob) {
	s := cb.s
	business := jobs[0].business
	results := make([]jobResult, len(jobs))
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	err := s.store.InTxAs(ctx, business, func(ctx context.Context, tx *postgres.Tx) error {
		clear(results) // the transaction may be retried
		live := make([]int, 0, len(jobs))

		// Idempotency keys: claimed together; a key twice in the batch is in use.
		var keys []string
		var hashes [][]byte
		var keyed []int
		seen := map[string]bool{}
		for i, j := range jobs {
			switch {
			case j.key == "":
				live = append(live, i)
			case seen[j.key]:
				results[i].err = ledger.ParamErrorf(ledger.CodeIdempotencyInUse, "Idempotency-Key",
					"a request with this Idempotency-Key is still being processed; retry later")
			default:
				seen[j.key] = true
				keys, hashes, keyed = append(keys, j.key), append(hashes, j.reqHash), append(keyed, i)
			}
		}
		stored, errs, err := tx.ClaimIdempotencyKeys(ctx, business, keys, hashes)
		if err != nil {
			return err
		}
		for k, i := range keyed {
			switch {
			case errs[k] != nil:
				results[i].err = errs[k]
			case stored[k] != nil:
				results[i] = jobResult{status: stored[k].StatusCode, body: stored[k].Body, replayed: true}
			default:
				live = append(live, i)
			}
		}

		// Recipients, then the ledger, in queue order.
		trs := make([]ledger.Transfer, 0, len(live))
		for _, i := range live {
			trs = append(trs, jobs[i].transfer)
		}
		recipients, err := lockRecipients(ctx, tx, business, trs)
		if err != nil {
			return err
		}
		var book []ledger.Transfer
		var bookIdx []int
		for k, i := range live {
			if err := recipients.check(trs[k].ToProfileID, "to_profile_id"); err != nil {
				results[i].err = err
				continue
			}
			book, bookIdx = append(book, trs[k]), append(bookIdx, i)
		}
		errs, err = tx.BookTransfers(ctx, book)
		if err != nil {
			return err
		}
		var booked []ledger.Transfer
		for k, i := range bookIdx {
			if errs[k] != nil {
				results[i].err = errs[k]
				continue
			}
			booked = append(booked, book[k])
			j := jobs[i]
			dto := toTransferDTO(j.cs, book[k])
			body, err := json.Marshal(envelope{Status: "success", Message: "Transfer completed", Data: dto})
			if err != nil {
				return err
			}
			results[i] = jobResult{status: fiber.StatusCreated, body: body}
			if err := tx.Event(ctx, business, "transfer.completed", book[k].FromProfileID, dto); err != nil {
				return err
			}
			if j.key != "" {
				if err := tx.SaveIdempotentResponse(ctx, business, j.key, j.reqHash, postgres.StoredResponse{StatusCode: fiber.StatusCreated, Body: body}); err != nil {
					return err
				}
			}
		}
		if err := tx.SaveTransfers(ctx, booked); err != nil {
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
