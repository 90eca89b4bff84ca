package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/internal/api"
	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/dashboard"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/internal/webhook"
)

// serve migrates, starts the workers and the API, and shuts both down on SIGTERM.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	gcPercent, memLimit := tuneGC()
	log.Info("garbage collector", "gogc", gcPercent, "memory_limit_mib", memLimit>>20)
	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{PoolSize: cfg.DBPoolSize, StatementTimeout: cfg.RequestTimeout})
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := postgres.Migrate(ctx, db)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		log.Info("migrations applied", "count", len(applied))
	}
	if cfg.UsesDevKeys() {
		log.Warn("TALLY_TOKEN_KEYS or TALLY_WEBHOOK_KEY unset: using built-in development keys; set both in production")
	}
	// TALLY_DB_POOL_SIZE is split: a quarter (at least 3) stays with the login
	// role's pool for credential lookups, the workers and the profile-change
	// listener (which holds one), the rest serves business requests on the
	// application pool, so the server opens no more connections than configured.
	ownerConns := max(3, cfg.DBPoolSize/4)
	app, err := postgres.OpenApp(ctx, db, cfg.DatabaseURL, postgres.Options{PoolSize: max(1, cfg.DBPoolSize-ownerConns), StatementTimeout: cfg.RequestTimeout})
	if err != nil {
		return err
	}
	if app != nil {
		defer app.Close()
		db.DB.SetMaxOpenConns(ownerConns)
		db.DB.SetMaxIdleConns(ownerConns)
	} else {
		log.Warn("row-level security is not set up (the database role may not create roles); see docs/scaling.md §6")
	}
	store := postgres.New(db).WithApp(app)
	srv := api.New(api.Options{Config: cfg, Store: store, Logger: log, Spec: tally.OpenAPI, Version: version})
	dashboard.New(dashboard.Options{Store: store, Domain: srv, Logger: log, RequestTimeout: cfg.RequestTimeout,
		Key: dashboard.DeriveKey(os.Getenv("TALLY_DASHBOARD_KEY"), cfg.TokenKeys[len(cfg.TokenKeys)-1].Key)}).Register(srv.App())

	workerCtx, stopWorkers := context.WithCancel(context.Background())
	defer stopWorkers()
	go store.WatchProfiles(workerCtx, log)
	if cfg.Pprof {
		go servePprof(workerCtx, cfg.PprofAddr, log)
	}
	if cfg.Workers {
		startWorkers(workerCtx, cfg, store, log)
		go srv.RunSandboxRail(workerCtx)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Listen(cfg.Addr) }()
	log.Info("tally listening", "addr", cfg.Addr, "version", version)
	select {
	case err := <-errc:
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", cfg.ShutdownGrace.String())
	start := time.Now()
	stopWorkers()
	if err := srv.Shutdown(cfg.ShutdownGrace); err != nil {
		log.Warn("shutdown", "err", err.Error())
	}
	log.Info("stopped", "after", time.Since(start).String())
	return nil
}

// startWorkers runs the background jobs of this replica; each coordinates with
// other replicas through PostgreSQL.
func startWorkers(ctx context.Context, cfg config.Config, store *postgres.Store, log *slog.Logger) {
	go webhook.NewWorker(webhook.Options{Store: store, Key: cfg.WebhookKey, AllowPrivate: cfg.WebhookAllowPrivate,
		Logger: log.With("worker", "webhooks")}).Run(ctx)
	go func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if n, err := store.PruneIdempotencyKeys(ctx, 10_000); err != nil && ctx.Err() == nil {
				log.Warn("prune idempotency keys", "err", err.Error())
			} else if n > 0 {
				log.Info("pruned idempotency keys", "count", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}
