// Package api is Tally's HTTP layer: the Fiber app, its middleware (request id,
// credentials, the X-BU-PROFILE-ID profile context, input hygiene), handlers per
// resource, request/response DTOs and the one error table.
package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/postgres"
)

// Limits of the HTTP layer.
const (
	bodyLimitBytes   = 1 << 20
	headerLimitBytes = 16 << 10
	pageSizeDefault  = 20
	pageSizeMax      = 100
)

// Server holds the HTTP app and what its handlers need.
type Server struct {
	cfg     config.Config
	store   *postgres.Store
	log     *slog.Logger
	app     *fiber.App
	metrics *metrics
	spec    []byte
	version string
	// addresses derives deposit addresses; the built-in sandbox rail when nil.
	addresses AddressProvider
	testURL   string // set by tests that serve on a loopback port
	creds     credentials
	combiner  *combiner     // books POST /v1/transfers and /v1/payouts (combine.go)
	reads     *readCombiner // reads GET /v1/balances (readcombine.go)
	searches  gate          // admits GET /v1/customers to the database (admit.go)
}

// Options are the parts of a Server that cmd wires in.
type Options struct {
	Config  config.Config
	Store   *postgres.Store
	Logger  *slog.Logger
	Spec    []byte // openapi.yaml, served at /openapi.yaml
	Version string
}

// New builds the Fiber app with every route.
func New(o Options) *Server {
	s := &Server{cfg: o.Config, store: o.Store, log: o.Logger, spec: o.Spec, version: o.Version, metrics: newMetrics()}
	s.combiner, s.reads = newCombiner(s), newReadCombiner(s)
	s.searches = newGate(searchConcurrency())
	s.app = fiber.New(fiber.Config{
		AppName:               "tally",
		BodyLimit:             bodyLimitBytes,
		ReadBufferSize:        headerLimitBytes,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          5 * time.Minute, // CSV exports stream for a while
		IdleTimeout:           2 * time.Minute,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		StreamRequestBody:     false,
	})
	s.routes()
	return s
}

// App returns the Fiber app (tests call App().Test).
func (s *Server) App() *fiber.App { return s.app }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error { return s.app.Listen(addr) }

// Shutdown stops accepting connections and waits up to grace for in-flight requests.
func (s *Server) Shutdown(grace time.Duration) error { return s.app.ShutdownWithTimeout(grace) }

func (s *Server) routes() {
	app := s.app
	app.Use(s.requestID, s.accessLog, s.recover)
	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.serveMetrics)
	app.Get("/openapi.yaml", s.openapi)

	// Rail routes come first: they take rail keys, not business credentials.
	s.railRoutes(app)

	v1 := app.Group("/v1", s.authenticate, s.hygiene)
	v1.Get("/business", s.getBusiness)

	// Routes that act in a profile's context resolve X-BU-PROFILE-ID first.
	s.customerRoutes(v1)

	// Money routes act in a profile's context: X-BU-PROFILE-ID is resolved first.
	p := v1.Group("", s.resolveProfile)
	p.Get("/profile", s.getProfile)
	s.moneyRoutes(v1, p)
	s.webhookRoutes(v1, p)
	s.credentialRoutes(v1)
}

// requestContext bounds a handler's database work by the configured timeout.
func (s *Server) requestContext(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), s.cfg.RequestTimeout)
}
