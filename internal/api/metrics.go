package api

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// latencyBuckets are the upper bounds (seconds) of the request latency histogram.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

type seriesKey struct {
	method, route string
	status        int
}

type series struct {
	count   uint64
	sum     float64
	buckets []uint64
}

// metrics is a small Prometheus text-format registry: request count and latency by
// method, route and status. Routes are templates (/v1/customers/:id), so the label
// set stays bounded.
type metrics struct {
	mu     sync.Mutex
	series map[seriesKey]*series
	start  time.Time
}

func newMetrics() *metrics { return &metrics{series: map[seriesKey]*series{}, start: time.Now()} }

func (m *metrics) observe(method, route string, status int, d time.Duration) {
	sec := d.Seconds()
	k := seriesKey{method, route, status}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.series[k]
	if s == nil {
		// Fiber's c.Method() aliases fasthttp's request buffer, which the next
		// request reuses: a key kept in the map must own its bytes, or it changes
		// under the map (render then found no series for it and panicked).
		k.method, k.route = strings.Clone(k.method), strings.Clone(k.route)
		s = &series{buckets: make([]uint64, len(latencyBuckets))}
		m.series[k] = s
	}
	s.count++
	s.sum += sec
	for i, b := range latencyBuckets {
		if sec <= b {
			s.buckets[i]++
		}
	}
}

func (m *metrics) render() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]seriesKey, 0, len(m.series))
	for k := range m.series {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.route != b.route {
			return a.route < b.route
		}
		if a.method != b.method {
			return a.method < b.method
		}
		return a.status < b.status
	})
	var b strings.Builder
	b.WriteString("# HELP tally_http_requests_total HTTP requests by method, route and status.\n# TYPE tally_http_requests_total counter\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "tally_http_requests_total{method=%q,route=%q,status=\"%d\"} %d\n", k.method, k.route, k.status, m.series[k].count)
	}
	b.WriteString("# HELP tally_http_request_duration_seconds HTTP request latency.\n# TYPE tally_http_request_duration_seconds histogram\n")
	for _, k := range keys {
		s := m.series[k]
		labels := fmt.Sprintf("method=%q,route=%q,status=\"%d\"", k.method, k.route, k.status)
		for i, ub := range latencyBuckets {
			fmt.Fprintf(&b, "tally_http_request_duration_seconds_bucket{%s,le=\"%g\"} %d\n", labels, ub, s.buckets[i])
		}
		fmt.Fprintf(&b, "tally_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", labels, s.count)
		fmt.Fprintf(&b, "tally_http_request_duration_seconds_sum{%s} %g\n", labels, s.sum)
		fmt.Fprintf(&b, "tally_http_request_duration_seconds_count{%s} %d\n", labels, s.count)
	}
	fmt.Fprintf(&b, "# HELP tally_uptime_seconds Seconds since the server started.\n# TYPE tally_uptime_seconds gauge\ntally_uptime_seconds %g\n", time.Since(m.start).Seconds())
	return b.String()
}

func (s *Server) serveMetrics(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	cb := s.combiner
	out := s.metrics.render() + fmt.Sprintf("# HELP tally_group_commit_batches_total Transactions the group-commit combiner ran.\n"+
		"# TYPE tally_group_commit_batches_total counter\ntally_group_commit_batches_total %d\n"+
		"# HELP tally_group_commit_jobs_total Transfer and payout requests those transactions carried.\n"+
		"# TYPE tally_group_commit_jobs_total counter\ntally_group_commit_jobs_total %d\n"+
		"# HELP tally_balance_read_batches_total Statements the balance read combiner ran.\n"+
		"# TYPE tally_balance_read_batches_total counter\ntally_balance_read_batches_total %d\n"+
		"# HELP tally_balance_reads_total GET /v1/balances reads those statements carried.\n"+
		"# TYPE tally_balance_reads_total counter\ntally_balance_reads_total %d\n",
		cb.batches.Load(), cb.booked.Load(), s.reads.batches.Load(), s.reads.reads.Load())
	return c.SendString(out)
}
