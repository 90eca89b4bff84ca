// Command benchctl is the helper of bench/run.sh: it seeds funded customers
// through the HTTP API, rewrites database URLs, and turns the raw results of one
// run (wrk and k6 summaries, pgbench output and logs, RSS samples, verify output) into
// bench/results/<date>.md. It is not part of the tally binary.
//
//	benchctl seed   -api URL -key sk_… -rail-key rk_… -n 1000 -out customers.json
//	benchctl dburl  URL NAME          print URL with its database replaced by NAME
//	benchctl report -dir bench/out/RUN -out bench/results/DATE.md
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchctl seed|dburl|report …")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "seed":
		err = seed(os.Args[2:])
	case "dburl":
		err = dbURL(os.Args[2:])
	case "report":
		err = report(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchctl:", err)
		os.Exit(1)
	}
}

// dbURL replaces the database of a postgres:// URL (the path) with a new name.
func dbURL(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: benchctl dburl URL NAME")
	}
	u, err := url.Parse(args[0])
	if err != nil {
		return err
	}
	u.Path = "/" + args[1]
	u.RawPath = ""
	fmt.Println(u.String())
	return nil
}

// client calls the Tally API and unwraps the success envelope.
type client struct {
	base string
	http *http.Client
}

func (c *client) post(path, bearer, profile string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		if profile != "" {
			req.Header.Set("X-BU-PROFILE-ID", profile)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return err
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 20 {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, raw)
		}
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &env); err != nil {
			return fmt.Errorf("POST %s: %w", path, err)
		}
		return json.Unmarshal(env.Data, out)
	}
}

// seed creates n customers of the business behind -key, gives each a deposit
// address, and reports one completed deposit of -amount to it through the rail
// API, so every customer starts funded exactly as in production.
func seed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	api := fs.String("api", "http://127.0.0.1:18080", "Tally base URL")
	key := fs.String("key", "", "the business's secret key")
	railKey := fs.String("rail-key", "", "a rail key (rk_…)")
	n := fs.Int("n", 1000, "customers to create")
	currency := fs.String("currency", "USD", "currency to fund")
	network := fs.String("network", "bank", "network of the deposit")
	amount := fs.String("amount", "1000000", "deposit per customer")
	workers := fs.Int("workers", 16, "concurrent requests")
	out := fs.String("out", "customers.json", "where to write the customer ids (JSON array)")
	_ = fs.Parse(args)
	if *key == "" || *railKey == "" {
		return errors.New("seed: -key and -rail-key are required")
	}
	c := &client{base: strings.TrimRight(*api, "/"), http: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}}
	ids := make([]string, *n)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *n {
					return
				}
				if err := seedOne(c, *key, *railKey, i, *currency, *network, *amount, &ids[i]); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	b, _ := json.Marshal(ids)
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seeded %d customers with %s %s each in %s\n", *n, *amount, *currency, time.Since(start).Round(time.Millisecond))
	return nil
}

func seedOne(c *client, key, railKey string, i int, currency, network, amount string, id *string) error {
	var cust struct {
		ID string `json:"id"`
	}
	err := c.post("/v1/customers", key, "", map[string]any{"type": "individual", "email": fmt.Sprintf("bench%d@bench.example", i),
		"first_name": "Bench", "last_name": fmt.Sprintf("Customer%d", i), "external_id": fmt.Sprintf("bench-%d", i)}, &cust)
	if err != nil {
		return err
	}
	var addr struct {
		Address string `json:"address"`
	}
	if err := c.post("/v1/deposit-addresses", key, cust.ID, map[string]any{"currency": currency, "network": network}, &addr); err != nil {
		return err
	}
	var dep struct {
		Status string `json:"status"`
	}
	if err := c.post("/v1/rails/deposits", railKey, "", map[string]any{"network": network, "currency": currency, "amount": amount,
		"to_address": addr.Address, "tx_hash": fmt.Sprintf("bench-seed-%s", cust.ID), "output_index": 0, "confirmations": 1000,
		"from_address": "bench-funding"}, &dep); err != nil {
		return err
	}
	if dep.Status != "completed" {
		return fmt.Errorf("deposit to %s is %s, want completed", cust.ID, dep.Status)
	}
	*id = cust.ID
	return nil
}

// ---- report ----

// loadResult is the summary of one load run, load.json: bench/wrk/tally.lua
// writes it from done() (closed loop), bench/k6/tally.js from handleSummary
// (open loop, and closed loop where wrk is missing), in the same shape.
type loadResult struct {
	Scenario   string  `json:"scenario"`
	Mode       string  `json:"mode"` // closed (fixed concurrency) or open (constant arrival rate)
	Tool       string  `json:"tool"` // wrk or k6 (k6 when empty: summaries written before wrk)
	VUs        int     `json:"vus"`
	Rate       float64 `json:"rate"` // target arrival rate (open)
	DurationS  float64 `json:"duration_s"`
	Requests   float64 `json:"requests"`
	ReqRate    float64 `json:"req_rate"`
	PerRequest float64 `json:"per_request"` // transfers per request (batch)
	P50        float64 `json:"p50_ms"`
	P90        float64 `json:"p90_ms"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms"`
	Failed     float64 `json:"failed"`
	Dropped    float64 `json:"dropped"`
	Statuses   string  `json:"statuses"`
}

type run struct {
	ID     string
	load   loadResult
	RSSKB  int
	Verify string
	CPU    string // share of the machine: server / PostgreSQL / load generator / other / idle
}

type pgb struct {
	Name     string
	TPS      float64
	P50, P99 float64
	Failed   int
	Raw      string
}

func report(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	dir := fs.String("dir", "", "the run's output folder")
	out := fs.String("out", "", "the markdown file to write")
	_ = fs.Parse(args)
	if *dir == "" || *out == "" {
		return errors.New("report: -dir and -out are required")
	}
	runs, err := loadRuns(filepath.Join(*dir, "runs"))
	if err != nil {
		return err
	}
	tpcb := loadPgbench(filepath.Join(*dir, "pgbench"), "tpcb")
	sel := loadPgbench(filepath.Join(*dir, "pgbench"), "select")
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(*dir, name))
		return strings.TrimSpace(string(b))
	}
	var sb strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&sb, format, a...) }
	w("# Tally load benchmark — %s\n\n", read("date.txt"))
	w("Produced by `make bench` (bench/run.sh); bench/README.md explains how to read it.\n\n")
	w("Settings: %s\n\n", read("settings.txt"))
	w("## Results\n\n")
	w("Ratio: writes ÷ pgbench tpcb-like (%s tps), reads ÷ pgbench `-S` (%s tps), same PostgreSQL, same run. ", f0(tpcb.TPS), f0(sel.TPS))
	w("closed = fixed concurrency (wrk: 2 threads and one connection per client, like pgbench `-c 32 -j 2`; k6 `constant-vus` where wrk is not installed); open = k6 `constant-arrival-rate` at the rate shown. ")
	w("Errors = non-2xx responses and socket errors (+ iterations k6 dropped because the open-loop rate could not be served). ")
	w("RSS = the server's max VmRSS during the run. CPU = share of the whole machine (all cores) used by tally / PostgreSQL / the load generator / everything else / idle during the run. ")
	w("verify = `tally verify` right after the run.\n\n")
	w("| scenario | load | throughput | p50 | p99 | errors | server RSS | ratio | CPU tally/pg/load/other/idle | verify |\n")
	w("|---|---|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, r := range runs {
		k := r.load
		tool := k.Tool
		if tool == "" {
			tool = "k6"
		}
		load := fmt.Sprintf("%s closed, %d clients", tool, k.VUs)
		if k.Mode == "open" {
			load = fmt.Sprintf("%s open, %s req/s", tool, f0(k.Rate))
		}
		unit := "req/s"
		thr := k.ReqRate
		if k.PerRequest > 1 {
			thr = k.ReqRate * k.PerRequest
			unit = fmt.Sprintf("transfers/s (%s req/s × %s)", f1(k.ReqRate), f0(k.PerRequest))
		}
		basis, kind := tpcb.TPS, "tpcb"
		if isRead(k.Scenario) {
			basis, kind = sel.TPS, "-S"
		}
		ratio := "n/a"
		if basis > 0 {
			ratio = fmt.Sprintf("%.2f× %s", thr/basis, kind)
		}
		errs := f0(k.Failed)
		if k.Dropped > 0 {
			errs += fmt.Sprintf(" (+%s dropped)", f0(k.Dropped))
		}
		w("| %s | %s | %s %s | %s ms | %s ms | %s | %s MB | %s | %s | %s |\n", label(k.Scenario), load, f0(thr), unit,
			f1(k.P50), f1(k.P99), errs, f1(float64(r.RSSKB)/1024), ratio, r.CPU, r.Verify)
	}
	for _, p := range []pgb{tpcb, sel} {
		if p.Name == "" {
			continue
		}
		w("| pgbench %s | closed, 32 clients | %s tps | %s ms | %s ms | %d | – | 1.00× | – | – |\n", p.Name, f0(p.TPS), f1(p.P50), f1(p.P99), p.Failed)
	}
	w("\nStatus codes per run: ")
	for i, r := range runs {
		if i > 0 {
			w("; ")
		}
		w("%s/%s %s", r.load.Scenario, r.load.Mode, r.load.Statuses)
	}
	w(".\n")
	paired := loadPaired(filepath.Join(*dir, "paired"))
	w("\n%s", targets(runs, tpcb, sel, paired))
	if t := paired.table(); t != "" {
		w("%s\n`tally verify` after the rounds: %s.\n", t, verifySummary(read("paired/verify.txt")))
	}
	if p := read("profile.md"); p != "" {
		w("\n## CPU profile during scenario (1)\n\n%s\n", p)
	}
	w("\n## Machine\n\n```\n%s\n```\n", read("machine.txt"))
	w("\n## Commands\n\n```\n%s\n```\n", read("commands.txt"))
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(*out, []byte(sb.String()), 0o644)
}

func isRead(s string) bool { return s == "balances" || s == "search" }

func label(s string) string {
	switch s {
	case "transfers":
		return "(1) transfers, random pairs of 1,000"
	case "payouts":
		return "(2) payouts, one fee account"
	case "balances":
		return "(3) GET /v1/balances"
	case "search":
		return "(4) GET /v1/customers?q= at 1M"
	case "mixed":
		return "(5) mixed 70/20/10"
	case "batch":
		return "batch /v1/transfers/batch ×1000"
	}
	return s
}

func f0(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func loadRuns(dir string) ([]run, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var runs []run
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		r := run{ID: e.Name(), Verify: "not run"}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "load.json"))
		if errors.Is(err, os.ErrNotExist) { // a run from before wrk
			b, err = os.ReadFile(filepath.Join(dir, e.Name(), "k6.json"))
		}
		if err != nil {
			continue
		}
		if err := json.Unmarshal(b, &r.load); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, e.Name(), "rss_kb")); err == nil {
			r.RSSKB, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		r.CPU = cpuSplit(filepath.Join(dir, e.Name()))
		if b, err := os.ReadFile(filepath.Join(dir, e.Name(), "verify.txt")); err == nil {
			r.Verify = verifySummary(string(b))
		}
		runs = append(runs, r)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID < runs[j].ID })
	return runs, nil
}

// verifySummary shortens `tally verify` output to "ok (N entries, 1.2s)" or FAILED.
func verifySummary(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if rest, ok := strings.CutPrefix(line, "verify "); ok {
			f := strings.Fields(rest)
			if len(f) > 0 && f[0] == "ok:" {
				entries, took := "", ""
				for i := range f {
					if strings.HasPrefix(f[i], "entries") && i > 0 {
						entries = f[i-1]
					}
				}
				if len(f) > 0 {
					took = f[len(f)-1]
				}
				return fmt.Sprintf("ok (%s entries, %s)", entries, took)
			}
			return "**FAILED**"
		}
	}
	return "**FAILED** (no summary)"
}

// loadPgbench reads NAME.txt (pgbench's output) and NAME-log/ (its -l
// per-transaction logs: the 3rd field is the latency in µs).
func loadPgbench(dir, name string) pgb {
	raw, err := os.ReadFile(filepath.Join(dir, name+".txt"))
	if err != nil {
		return pgb{}
	}
	p := pgb{Name: map[string]string{"tpcb": "tpcb-like", "select": "-S select-only"}[name], Raw: string(raw)}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "tps = "); ok {
			p.TPS, _ = strconv.ParseFloat(strings.Fields(rest)[0], 64)
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "number of failed transactions: "); ok {
			p.Failed, _ = strconv.Atoi(strings.Fields(rest)[0])
		}
	}
	var lat []float64
	logs, _ := filepath.Glob(filepath.Join(dir, name+"-log", "*"))
	for _, f := range logs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			fs := strings.Fields(line)
			if len(fs) < 3 {
				continue
			}
			if v, err := strconv.ParseFloat(fs[2], 64); err == nil {
				lat = append(lat, v/1000)
			}
		}
	}
	if len(lat) > 0 {
		sort.Float64s(lat)
		p.P50, p.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return p
}

// targets checks the goals of issue 8 against this run. Throughput and the p99 of
// the same-concurrency goals come from the closed-loop runs (32 VUs, like pgbench's
// 32 clients); the open-loop p99 is shown beside them.
func targets(runs []run, tpcb, sel pgb, paired pairedRounds) string {
	find := func(scenario, mode string) *loadResult {
		for i := range runs {
			if runs[i].load.Scenario == scenario && runs[i].load.Mode == mode {
				return &runs[i].load
			}
		}
		return nil
	}
	thr := func(k *loadResult) float64 {
		if k.PerRequest > 1 {
			return k.ReqRate * k.PerRequest
		}
		return k.ReqRate
	}
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	openP99 := func(scenario string) string {
		if k := find(scenario, "open"); k != nil {
			return fmt.Sprintf("; open loop at %s req/s: p99 %s ms", f0(k.Rate), f1(k.P99))
		}
		return ""
	}
	var sb strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&sb, format, a...) }
	w("## Targets (issue 8)\n\n")
	if k := find("transfers", "closed"); k != nil && tpcb.TPS > 0 {
		ok := thr(k) >= tpcb.TPS && k.Failed == 0 && k.P99 < 50
		w("- (1) transfers ≥ 1.0× tpcb-like, 0 errors, p99 < 50 ms: %s — %.2f×, %s errors, p99 %s ms%s\n",
			mark(ok), thr(k)/tpcb.TPS, f0(k.Failed), f1(k.P99), openP99("transfers"))
	}
	if k, t := find("payouts", "closed"), find("transfers", "closed"); k != nil && t != nil && t.ReqRate > 0 {
		w("- (2) payouts ≥ 0.9× transfers: %s — %.2f× (%s vs %s req/s), p99 %s ms%s\n", mark(k.ReqRate >= 0.9*t.ReqRate),
			k.ReqRate/t.ReqRate, f0(k.ReqRate), f0(t.ReqRate), f1(k.P99), openP99("payouts"))
	}
	if m, ok := paired.mean(); ok {
		w("- paired rounds (the ratio targets with pgbench and Tally taking turns in %s s windows; see below): "+
			"(1) %s — %.2f× tpcb-like; (2) %s — %.2f× transfers", f0(m.seconds), mark(m.transfers >= m.tpcb), m.transfers/m.tpcb,
			mark(m.payouts >= 0.9*m.transfers), m.payouts/m.transfers)
		if m.sel > 0 {
			w("; (3) %s — %.2f× -S", mark(m.balances >= 0.5*m.sel), m.balances/m.sel)
		}
		w(" (ratios only: latency and errors are judged on the runs above)\n")
	}
	if k := find("balances", "closed"); k != nil && sel.TPS > 0 {
		w("- (3) balances ≥ 0.5× pgbench -S, p99 < 10 ms: %s — %.2f×, p99 %s ms%s\n", mark(k.ReqRate >= 0.5*sel.TPS && k.P99 < 10),
			k.ReqRate/sel.TPS, f1(k.P99), openP99("balances"))
	}
	if k := find("search", "closed"); k != nil {
		w("- (4) search p99 < 20 ms: %s — p99 %s ms at 32 VUs%s\n", mark(k.P99 < 20), f1(k.P99), openP99("search"))
	}
	if k := find("batch", "closed"); k != nil {
		w("- batch ≥ 20,000 transfers/s: %s — %s transfers/s\n", mark(thr(k) >= 20000), f0(thr(k)))
	}
	maxRSS, clean, n := 0, true, 0
	for _, r := range runs {
		n++
		if r.RSSKB > maxRSS {
			maxRSS = r.RSSKB
		}
		clean = clean && strings.HasPrefix(r.Verify, "ok")
	}
	if n > 0 {
		w("- server RSS < 150 MB throughout: %s — max %s MB\n", mark(maxRSS < 150*1024), f1(float64(maxRSS)/1024))
		w("- `tally verify` clean after every run: %s\n", mark(clean))
	}
	return sb.String()
}

// cpuSplit reads cpu0 and cpu1 (tally, postgres, load generator, machine total, machine idle
// ticks) and returns each as a percentage of the machine's ticks in between.
func cpuSplit(dir string) string {
	read := func(name string) []float64 {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil
		}
		var v []float64
		for _, f := range strings.Fields(string(b)) {
			x, _ := strconv.ParseFloat(f, 64)
			v = append(v, x)
		}
		if len(v) != 5 {
			return nil
		}
		return v
	}
	a, b := read("cpu0"), read("cpu1")
	if a == nil || b == nil || b[3] <= a[3] {
		return "n/a"
	}
	total := b[3] - a[3]
	pct := func(i int) string {
		if b[i] < a[i] { // the process was gone at the second sample
			return "?"
		}
		return f0(100 * (b[i] - a[i]) / total)
	}
	other := "?"
	if b[0] >= a[0] && b[1] >= a[1] && b[2] >= a[2] { // else a process's ticks are missing from the sum
		other = f0(100 * ((b[3] - a[3]) - (b[0] - a[0]) - (b[1] - a[1]) - (b[2] - a[2]) - (b[4] - a[4])) / total)
	}
	return fmt.Sprintf("%s/%s/%s/%s/%s %%", pct(0), pct(1), pct(2), other, pct(4))
}

// pairedRound is one round of run.sh's paired step: pgbench tpcb-like, (1)
// transfers, (2) payouts and, when balances ran, pgbench -S and (3) balances,
// each a short closed-loop window, taking turns.
type pairedRound struct {
	tpcb, transfers, payouts float64 // tps, req/s, req/s
	sel, balances            float64 // tps, req/s; 0 when not run
	seconds                  float64 // the length of a window
}

type pairedRounds []pairedRound

// loadPaired reads dir/<round>-tpcb.txt, -transfers.json, -payouts.json and,
// if there, -select.txt and -balances.json for rounds 1, 2, … until one is
// incomplete.
func loadPaired(dir string) pairedRounds {
	load := func(r int, name string) loadResult {
		var k loadResult
		if b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%d-%s.json", r, name))); err == nil {
			_ = json.Unmarshal(b, &k) // unreadable: a zero rate, which ends the rounds
		}
		return k
	}
	var out pairedRounds
	for r := 1; ; r++ {
		tr := load(r, "transfers")
		p := pairedRound{tpcb: loadPgbench(dir, fmt.Sprintf("%d-tpcb", r)).TPS, transfers: tr.ReqRate, payouts: load(r, "payouts").ReqRate,
			sel: loadPgbench(dir, fmt.Sprintf("%d-select", r)).TPS, balances: load(r, "balances").ReqRate, seconds: tr.DurationS}
		if p.tpcb <= 0 || p.transfers <= 0 || p.payouts <= 0 || (p.sel > 0) != (p.balances > 0) ||
			(len(out) > 0 && (p.sel > 0) != (out[0].sel > 0)) {
			return out
		}
		out = append(out, p)
	}
}

// mean returns the mean of every figure over the rounds (the windows are of
// equal length, so ratios of means are ratios of summed counts).
func (ps pairedRounds) mean() (pairedRound, bool) {
	var m pairedRound
	for _, p := range ps {
		m.tpcb, m.transfers, m.payouts, m.sel, m.balances = m.tpcb+p.tpcb, m.transfers+p.transfers, m.payouts+p.payouts, m.sel+p.sel, m.balances+p.balances
	}
	if len(ps) == 0 {
		return m, false
	}
	n := float64(len(ps))
	m.tpcb, m.transfers, m.payouts, m.sel, m.balances = m.tpcb/n, m.transfers/n, m.payouts/n, m.sel/n, m.balances/n
	m.seconds = ps[0].seconds
	return m, true
}

func (ps pairedRounds) table() string {
	m, ok := ps.mean()
	if !ok {
		return ""
	}
	reads := m.sel > 0
	var sb strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&sb, format, a...) }
	row := func(name string, p pairedRound) {
		w("| %s | %s tps | %s req/s | %s req/s | %.2f× | %.2f× |", name, f0(p.tpcb), f0(p.transfers), f0(p.payouts),
			p.transfers/p.tpcb, p.payouts/p.transfers)
		if reads {
			w(" %s tps | %s req/s | %.2f× |", f0(p.sel), f0(p.balances), p.balances/p.sel)
		}
		w("\n")
	}
	w("\n## Paired rounds\n\n")
	w("pgbench tpcb-like (`-c 32 -j 2`), (1) transfers and (2) payouts (wrk, 32 clients)")
	if reads {
		w(", pgbench `-S` and (3) balances")
	}
	w(" in turn, %s s each after an unmeasured 2 s of the same, each round in a rotated order, so that the machine's drift falls on all alike; "+
		"run where `paired` stands in BENCH_SCENARIOS (by default after batch, before search loads its million customers). "+
		"The last row is the mean of the rounds.\n\n", f0(m.seconds))
	w("| round | pgbench tpcb-like | (1) transfers | (2) payouts | (1) ÷ tpcb-like | (2) ÷ (1) |")
	if reads {
		w(" pgbench -S | (3) balances | (3) ÷ -S |")
	}
	w("\n|---|---:|---:|---:|---:|---:|")
	if reads {
		w("---:|---:|---:|")
	}
	w("\n")
	for i, p := range ps {
		row(fmt.Sprint(i+1), p)
	}
	row("mean", m)
	return sb.String()
}
