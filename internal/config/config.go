// Package config loads Tally's configuration from the environment once, in main,
// and validates it with messages that say what to fix.
package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the server. Secrets in it are never printed.
type Config struct {
	DatabaseURL string
	Addr        string
	LogLevel    slog.Level
	// DBPoolSize is the maximum number of open database connections.
	DBPoolSize int
	// RequestTimeout bounds one request's database work (statement timeout).
	RequestTimeout time.Duration
	// ShutdownGrace bounds how long in-flight requests may drain on SIGTERM.
	ShutdownGrace time.Duration
	QuoteTTL      time.Duration
	// WebhookKey encrypts webhook signing secrets at rest (32 bytes).
	WebhookKey []byte
	// WebhookAllowPrivate lets live businesses register private/loopback URLs.
	WebhookAllowPrivate bool
	// TokenKeys sign customer tokens (kid → HS256 key); the newest (last) signs.
	TokenKeys      []TokenKey
	RateLimitRPS   float64
	RateLimitBurst int
	// Workers enables the background workers (sandbox rail, webhooks, pruning).
	Workers bool
	// GroupCommit books concurrent POST /v1/transfers of a business in shared
	// transactions (internal/api/combine.go).
	GroupCommit bool
	// Pprof serves /debug/pprof on its own listener at PprofAddr when true.
	Pprof     bool
	PprofAddr string
}

// TokenKey is one customer-token signing key.
type TokenKey struct {
	ID  string
	Key []byte
}

// devKey is used only when no key is configured, so a local run works; the server
// logs a warning because tokens and webhook secrets are then not secret.
var devKey = []byte("tally-development-key-do-not-use-in-production!")

// Load reads the configuration through lookup (os.LookupEnv in main).
func Load(lookup func(string) (string, bool)) (Config, error) {
	get := func(k, def string) string {
		if v, ok := lookup(k); ok && v != "" {
			return v
		}
		return def
	}
	c := Config{
		DatabaseURL: get("DATABASE_URL", ""),
		Addr:        get("TALLY_ADDR", ":8080"),
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	if c.DatabaseURL == "" {
		fail("DATABASE_URL is required (e.g. postgres://user@127.0.0.1:5432/tally); `make run` sets it to the embedded database")
	}
	switch strings.ToLower(get("TALLY_LOG_LEVEL", "info")) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		fail("TALLY_LOG_LEVEL must be debug, info, warn or error")
	}
	intVar := func(k string, def, lo, hi int) int {
		v, err := strconv.Atoi(get(k, strconv.Itoa(def)))
		if err != nil || v < lo || v > hi {
			fail("%s must be an integer from %d to %d", k, lo, hi)
		}
		return v
	}
	durVar := func(k string, def, lo, hi time.Duration) time.Duration {
		v, err := time.ParseDuration(get(k, def.String()))
		if err != nil || v < lo || v > hi {
			fail("%s must be a duration from %s to %s (e.g. %s)", k, lo, hi, def)
		}
		return v
	}
	boolVar := func(k string, def bool) bool {
		v, err := strconv.ParseBool(get(k, strconv.FormatBool(def)))
		if err != nil {
			fail("%s must be true or false", k)
		}
		return v
	}
	c.DBPoolSize = intVar("TALLY_DB_POOL_SIZE", 32, 1, 1000)
	c.RequestTimeout = durVar("TALLY_REQUEST_TIMEOUT", 10*time.Second, 100*time.Millisecond, 5*time.Minute)
	c.ShutdownGrace = durVar("TALLY_SHUTDOWN_GRACE", 15*time.Second, 0, 10*time.Minute)
	c.QuoteTTL = durVar("TALLY_QUOTE_TTL", 30*time.Second, time.Second, 24*time.Hour)
	c.WebhookAllowPrivate = boolVar("TALLY_WEBHOOK_ALLOW_PRIVATE", false)
	c.Workers = boolVar("TALLY_WORKERS", true)
	c.GroupCommit = boolVar("TALLY_GROUP_COMMIT", true)
	c.Pprof = boolVar("TALLY_PPROF", false)
	c.PprofAddr = get("TALLY_PPROF_ADDR", "127.0.0.1:6060")
	c.RateLimitBurst = intVar("TALLY_RATE_LIMIT_BURST", 1000, 1, 1_000_000)
	rps, err := strconv.ParseFloat(get("TALLY_RATE_LIMIT_RPS", "500"), 64)
	if err != nil || rps <= 0 {
		fail("TALLY_RATE_LIMIT_RPS must be a positive number of requests per second")
	}
	c.RateLimitRPS = rps

	c.WebhookKey = devKey[:32]
	if v := get("TALLY_WEBHOOK_KEY", ""); v != "" {
		k, err := decodeKey(v)
		if err != nil || len(k) != 32 {
			fail("TALLY_WEBHOOK_KEY must be 32 bytes, hex or base64 encoded (openssl rand -hex 32)")
		}
		c.WebhookKey = k
	}
	c.TokenKeys = []TokenKey{{ID: "dev", Key: devKey}}
	if v := get("TALLY_TOKEN_KEYS", ""); v != "" {
		keys, err := parseTokenKeys(v)
		if err != nil {
			fail("TALLY_TOKEN_KEYS: %v (format: kid1:hexkey1,kid2:hexkey2; the last one signs)", err)
		}
		c.TokenKeys = keys
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("invalid configuration:\n  - %s", strings.Join(errs, "\n  - "))
	}
	return c, nil
}

// UsesDevKeys reports whether the built-in development keys are in use.
func (c Config) UsesDevKeys() bool {
	return string(c.WebhookKey) == string(devKey[:32]) || (len(c.TokenKeys) == 1 && c.TokenKeys[0].ID == "dev")
}

func decodeKey(v string) ([]byte, error) {
	if k, err := hex.DecodeString(v); err == nil {
		return k, nil
	}
	return base64.StdEncoding.DecodeString(v)
}

func parseTokenKeys(v string) ([]TokenKey, error) {
	var keys []TokenKey
	for _, part := range strings.Split(v, ",") {
		kid, raw, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || kid == "" {
			return nil, fmt.Errorf("entry %q has no kid", part)
		}
		k, err := decodeKey(raw)
		if err != nil || len(k) < 32 {
			return nil, fmt.Errorf("key %q must be at least 32 bytes, hex or base64", kid)
		}
		keys = append(keys, TokenKey{ID: kid, Key: k})
	}
	return keys, nil
}
