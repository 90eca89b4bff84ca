package api

import (
	"context"
	"time"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// Sandbox rail timing: a sandbox payout waits stepDelay in pending and again in
// processing, so integrators can watch both states, and completes within seconds.
const (
	sandboxStepDelay    = time.Second
	sandboxPollInterval = 500 * time.Millisecond
	sandboxBatchSize    = 50
)

// RunSandboxRail advances sandbox businesses' payouts by itself (DESIGN.md §6):
// pending → processing → completed, or failed when the destination ends in
// "dead". Each step claims rows with FOR UPDATE SKIP LOCKED and commits with its
// event, so any number of replicas may run it. It returns when ctx ends.
func (s *Server) RunSandboxRail(ctx context.Context) {
	t := time.NewTicker(sandboxPollInterval)
	defer t.Stop()
	for {
		n, err := s.sandboxRailStep(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("sandbox rail", "err", err.Error())
		}
		if n == sandboxBatchSize {
			continue // more are waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sandboxRailStep advances one batch and returns how many payouts moved.
func (s *Server) sandboxRailStep(ctx context.Context) (int, error) {
	cs, err := s.currencies(ctx)
	if err != nil {
		return 0, err
	}
	moved := 0
	err = s.store.InTx(ctx, func(ctx context.Context, tx *postgres.Tx) error {
		moved = 0
		ps, err := tx.ClaimSandboxPayouts(ctx, sandboxStepDelay, sandboxBatchSize)
		if err != nil {
			return err
		}
		for _, p := range ps {
			tr := postgres.PayoutTransition{To: ledger.PayoutProcessing}
			if p.Status == ledger.PayoutProcessing {
				tr = postgres.PayoutTransition{To: ledger.PayoutCompleted, TxHash: "sandbox_" + p.ID[len(ledger.PrefixPayout):]}
				if ledger.FailsInSandbox(p.Address) {
					tr = postgres.PayoutTransition{To: ledger.PayoutFailed, FailureReason: "sandbox: destination address ends in 'dead'"}
				}
			}
			next, err := tx.AdvancePayout(ctx, p.Business, "", p.ID, tr)
			if err != nil {
				return err
			}
			if err := tx.Event(ctx, p.Business, "payout."+next.Status, next.ProfileID, toPayoutDTO(cs, next)); err != nil {
				return err
			}
			moved++
		}
		return nil
	})
	return moved, err
}
