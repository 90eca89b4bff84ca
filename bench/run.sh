#!/usr/bin/env bash
# bench/run.sh — Tally's reproducible load benchmark (`make bench`; see bench/README.md).
#
# Builds tally, gives it a fresh database, seeds a live business with funded
# customers, runs every scenario twice — closed loop at BENCH_VUS clients with wrk
# (k6 where wrk is not installed), then open loop at BENCH_OPEN_FRACTION of the
# closed-loop throughput with k6 — runs `tally verify` after each, runs pgbench on
# the same PostgreSQL, and writes bench/results/<date>.md.
#
# Environment (all optional):
#   BENCH_QUICK=1            5 s runs, 100,000 search customers, result in bench/out/ (script check)
#   BENCH_DURATION=30s       length of every load run
#   BENCH_WARMUP=5s          unmeasured run of the same load before every closed-loop run and pgbench run (0s: none)
#   BENCH_PGBENCH_SECONDS=30 length of each pgbench run (-T)
#   BENCH_PAIRED_ROUNDS=3    rounds of pgbench tpcb / transfers / payouts / pgbench -S / balances taking turns (0: none)
#   BENCH_PAIRED_DURATION=10s  length of each of their windows
#   BENCH_VUS=32             closed-loop concurrency (and pgbench -c)
#   BENCH_CLOSED_TOOL=wrk    wrk or k6: the closed-loop load generator (k6 if wrk is missing)
#   BENCH_BATCH_VUS=2        concurrent batch senders (one per core)
#   BENCH_OPEN_FRACTION=0.5  open-loop rate as a fraction of the closed-loop throughput
#   BENCH_OPEN_MAX=5000      ... at most this many requests/s (what k6 itself can send beside the server)
#   BENCH_CUSTOMERS=1000     funded customers
#   BENCH_SEARCH_CUSTOMERS=1000000  customers in the business for scenario (4)
#   BENCH_SCENARIOS="transfers payouts balances mixed batch paired search"   (paired: see paired_rounds)
#   BENCH_IDEMPOTENCY=1      every POST carries a unique Idempotency-Key
#   BENCH_PORT=18080, BENCH_PPROF_ADDR=127.0.0.1:16060
#   BENCH_DB_POOL_SIZE       TALLY_DB_POOL_SIZE for the server (default: tally's own default)
#   DATABASE_URL             use this database instead of the embedded cluster's tally_bench
#                            (it is NOT dropped; pgbench gets <name>_pgbench on the same server)
#   BENCH_RESULTS=path.md    where to write the results
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	DURATION=${BENCH_DURATION:-5s}
	WARMUP=${BENCH_WARMUP:-2s}
	PAIRED_DURATION=${BENCH_PAIRED_DURATION:-3s}
	PGB_SECONDS=${BENCH_PGBENCH_SECONDS:-5}
	SEARCH_N=${BENCH_SEARCH_CUSTOMERS:-100000}
else
	DURATION=${BENCH_DURATION:-30s}
	WARMUP=${BENCH_WARMUP:-5s}
	PAIRED_DURATION=${BENCH_PAIRED_DURATION:-10s}
	PGB_SECONDS=${BENCH_PGBENCH_SECONDS:-30}
	SEARCH_N=${BENCH_SEARCH_CUSTOMERS:-1000000}
fi
VUS=${BENCH_VUS:-32}
PAIRED_ROUNDS=${BENCH_PAIRED_ROUNDS:-3}
BATCH_VUS=${BENCH_BATCH_VUS:-2}
OPEN_FRACTION=${BENCH_OPEN_FRACTION:-0.5}
OPEN_MAX=${BENCH_OPEN_MAX:-5000}
CUSTOMERS=${BENCH_CUSTOMERS:-1000}
SCENARIOS=${BENCH_SCENARIOS:-"transfers payouts balances mixed batch paired search"}
IDEMPOTENCY=${BENCH_IDEMPOTENCY:-1}
PORT=${BENCH_PORT:-18080}
PPROF_ADDR=${BENCH_PPROF_ADDR:-127.0.0.1:16060}
K6_VERSION=v1.8.1
API="http://127.0.0.1:$PORT"

STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
OUT="$ROOT/bench/out/$STAMP"
BIN="$ROOT/bench/.bin"
mkdir -p "$OUT/runs" "$OUT/pgbench" "$BIN"
if [ "$QUICK" = 1 ]; then
	RESULTS=${BENCH_RESULTS:-$ROOT/bench/out/$STAMP-quick.md}
else
	RESULTS=${BENCH_RESULTS:-$ROOT/bench/results/$(date -u +%Y-%m-%d).md}
fi

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
# cmd records a command (secrets masked) in commands.txt, then runs it.
cmd() {
	printf '%s\n' "$*" | sed -E 's/(sk_(live|test)_|rk_)[A-Za-z0-9_-]+/\1…/g; s#(postgres://[^?]*)\?[^ ]*#\1?…#g' >>"$OUT/commands.txt"
	"$@"
}

SERVER_PID=""
cleanup() {
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
}
trap cleanup EXIT

# ---- tools ----
log "building tally and benchctl"
go build -o "$BIN/tally" ./cmd/tally
go build -o "$BIN/benchctl" ./bench/benchctl
TALLY="$BIN/tally"
BENCHCTL="$BIN/benchctl"

LOADER=k6
if [ ! -x "$BIN/k6" ] || ! "$BIN/k6" version 2>/dev/null | grep -q "$K6_VERSION"; then
	log "installing k6 $K6_VERSION into bench/.bin (one time, a few minutes)"
	if ! GOBIN="$BIN" go install "go.k6.io/k6@$K6_VERSION"; then
		LOADER=none
	fi
fi
if [ "$LOADER" != k6 ]; then
	echo "k6 could not be installed; this script needs k6 (its open-loop runs)." >&2
	exit 1
fi
CLOSED_TOOL=${BENCH_CLOSED_TOOL:-wrk}
if [ "$CLOSED_TOOL" = wrk ] && ! command -v wrk >/dev/null; then
	log "wrk not found (apt-get install wrk): the closed-loop runs use k6, which takes more of the cores"
	CLOSED_TOOL=k6
fi
for tool in psql pgbench; do
	command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install postgresql-client)" >&2; exit 1; }
done

# ---- database ----
if [ -n "${DATABASE_URL:-}" ]; then
	DB_URL=$DATABASE_URL
	PGB_URL=$("$BENCHCTL" dburl "$DB_URL" "$(basename "${DB_URL%%\?*}")_pgbench")
	log "using DATABASE_URL (not dropped)"
	psql "$DB_URL" -qAtc "SELECT 1 FROM pg_database WHERE datname = current_database() || '_pgbench'" | grep -q 1 ||
		psql "$DB_URL" -qc "CREATE DATABASE $(basename "${DB_URL%%\?*}")_pgbench" >/dev/null
else
	log "embedded cluster: fresh tally_bench and tally_pgbench databases"
	ADMIN_URL=$(cmd "$TALLY" devdb start postgres)
	cmd psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS tally_bench WITH (FORCE)" >/dev/null
	cmd psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS tally_pgbench WITH (FORCE)" >/dev/null
	DB_URL=$(cmd "$TALLY" devdb start tally_bench)
	PGB_URL=$(cmd "$TALLY" devdb start tally_pgbench)
fi
export DATABASE_URL=$DB_URL

# ---- machine ----
{
	echo "date:        $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "host:        $(uname -srm)"
	echo "cpu:         $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
	echo "memory:      $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
	echo "postgresql:  $(psql "$DB_URL" -qAtc 'SHOW server_version') ($(psql "$DB_URL" -qAtc "SELECT 'shared_buffers=' || current_setting('shared_buffers') || ' fsync=' || current_setting('fsync') || ' synchronous_commit=' || current_setting('synchronous_commit') || ' max_connections=' || current_setting('max_connections')"))"
	echo "go:          $(go version | cut -d' ' -f3-)"
	echo "tally:       $(git describe --always --dirty 2>/dev/null || echo unknown)"
	echo "k6:          $("$BIN/k6" version | head -1) (open loop$([ "$CLOSED_TOOL" = k6 ] && echo ' and closed loop'))"
	[ "$CLOSED_TOOL" = wrk ] && echo "wrk:         $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-3) (closed loop)"
	echo "pgbench:     $(pgbench --version)"
	echo "note:        load generator, server and PostgreSQL share the same $(nproc) cores"
} >"$OUT/machine.txt"
date -u '+%Y-%m-%d %H:%M UTC' >"$OUT/date.txt"
echo "duration $DURATION per load run after a $WARMUP unmeasured warm-up (closed loop and pgbench), closed loop $VUS clients ($CLOSED_TOOL) (batch: $BATCH_VUS senders × ${BENCH_BATCH_SIZE:-1000} transfers), open loop (k6) at ${OPEN_FRACTION} × closed-loop throughput (at most ${OPEN_MAX}/s), $CUSTOMERS funded customers, $SEARCH_N customers for search, idempotency keys $([ "$IDEMPOTENCY" = 1 ] && echo on || echo off), pgbench -T $PGB_SECONDS, TALLY_WORKERS=false, rate limit off (1e6/s)" >"$OUT/settings.txt"

# ---- pgbench: the ceiling of this PostgreSQL on its own banking benchmark ----
pgbench_run() { # name, extra args
	local name=$1
	shift
	mkdir -p "$OUT/pgbench/$name-log"
	sync # as settle does for Tally's runs: no writeback left over from what ran before
	[ "${WARMUP%s}" = 0 ] || cmd pgbench -c "$VUS" -j 2 -T "${WARMUP%s}" "$@" "$PGB_URL" >"$OUT/pgbench/$name-warmup.txt" 2>&1
	log "pgbench $name -c $VUS -j 2 -T $PGB_SECONDS $* (after a $WARMUP warm-up)"
	(cd "$OUT/pgbench/$name-log" && cmd pgbench -c "$VUS" -j 2 -T "$PGB_SECONDS" -l "$@" "$PGB_URL") >"$OUT/pgbench/$name.txt" 2>&1
	grep -E '^tps|latency average' "$OUT/pgbench/$name.txt" >&2 || true
}
log "pgbench -i -s 10"
cmd pgbench -i -s 10 -q "$PGB_URL" >"$OUT/pgbench/init.txt" 2>&1
pgbench_run tpcb
pgbench_run select -S

# ---- tally ----
log "migrate, business, rail key, fee"
cmd "$TALLY" migrate 2>>"$OUT/setup.log"
BUSINESS_JSON=$(cmd "$TALLY" businesses create --name "Bench Live")
BUSINESS=$(sed -nE 's/.*"id": "([^"]+)".*/\1/p' <<<"$BUSINESS_JSON")
KEY=$(sed -nE 's/.*"secret_key": "([^"]+)".*/\1/p' <<<"$BUSINESS_JSON")
RAIL_KEY=$(cmd "$TALLY" rails keys create | sed -nE 's/.*"rail_key": "([^"]+)".*/\1/p')
cmd "$TALLY" fees set --business "$BUSINESS" --currency USD --fixed 0.10 --percent 0 >/dev/null

# TALLY_WORKERS=false: the sandbox rail, webhook delivery and pruning workers stay
# off, so nothing but the load touches the database (the business is live anyway,
# so the sandbox rail would not advance its payouts; payouts stay pending, holding
# their funds). The rate limit is raised so the benchmark measures the server,
# not the limiter (which still runs on every request).
start_server() {
	log "starting tally serve on $API (pprof on $PPROF_ADDR)"
	env ${BENCH_DB_POOL_SIZE:+TALLY_DB_POOL_SIZE=$BENCH_DB_POOL_SIZE} TALLY_ADDR="127.0.0.1:$PORT" TALLY_WORKERS=false TALLY_RATE_LIMIT_RPS=1000000 TALLY_RATE_LIMIT_BURST=1000000 \
		TALLY_PPROF=true TALLY_PPROF_ADDR="$PPROF_ADDR" \
		"$TALLY" serve >>"$OUT/server.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 1 100); do
		curl -fsS "$API/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "tally did not become ready; see $OUT/server.log" >&2
	exit 1
}
echo "${BENCH_DB_POOL_SIZE:+TALLY_DB_POOL_SIZE=$BENCH_DB_POOL_SIZE }TALLY_ADDR=127.0.0.1:$PORT TALLY_WORKERS=false TALLY_RATE_LIMIT_RPS=1000000 TALLY_RATE_LIMIT_BURST=1000000 TALLY_PPROF=true TALLY_PPROF_ADDR=$PPROF_ADDR tally serve" >>"$OUT/commands.txt"
start_server

log "seeding $CUSTOMERS customers, 1,000,000 USD each (rail deposits)"
cmd "$BENCHCTL" seed -api "$API" -key "$KEY" -rail-key "$RAIL_KEY" -n "$CUSTOMERS" -amount 1000000 -out "$OUT/customers.json"
# A long-running database has statistics (autovacuum analyzes within a minute);
# without them the planner may read a customer by id through
# customers_business_email and filter every customer of the business.
cmd psql "$DB_URL" -qc "ANALYZE" >/dev/null

# rss_sampler writes the server's max VmRSS (kB) to $1 every 100 ms until $1.stop exists.
rss_sampler() {
	local out=$1 max=0 v
	while [ ! -e "$out.stop" ]; do
		v=$(awk '/^VmRSS/{print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
		if [ "${v:-0}" -gt "$max" ]; then max=$v; echo "$max" >"$out"; fi
		sleep 0.1
	done
}

# cpu_snapshot prints CPU ticks used so far by: the server, PostgreSQL (every
# postgres process), the load generator, the whole machine, and idle — to show
# where the cores went.
cpu_snapshot() { # [load generator pid]
	local t p=0 k=0 pid
	t=$(awk '{print $14+$15}' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0)
	for pid in $(pgrep -u postgres 2>/dev/null); do p=$((p + $(awk '{print $14+$15}' "/proc/$pid/stat" 2>/dev/null || echo 0))); done
	[ -n "${1:-}" ] && k=$(awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0)
	echo "$t $p $k $(awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6}' /proc/stat)"
}

# settle: before every load run, as pgbench vacuums its tables before each of its
# runs, vacuum and analyze the database, so a scenario does not pay for the
# autovacuum of the rows the one before it wrote. (Not a CHECKPOINT as well: right
# after one, every page a run first touches is written to the WAL whole, which
# cost the transfers run that followed a quarter of its throughput.) Then `sync`:
# the kernel writes back what the runs before left dirty in the page cache (pgbench's
# initialisation, the seeding) now, not during the run, where it competes with the
# WAL flushes for the disk (on 2026-12-07 at 15:59 the first run, transfers, had a
# p99 of 126 ms with no checkpoint under way; the same build 35–37 ms later).
settle() {
	psql "$DB_URL" -qc "VACUUM (ANALYZE)" >>"$OUT/setup.log" 2>&1 || log "VACUUM failed (see $OUT/setup.log)"
	sync
}

RUN_SEQ=0
# wrk_load scenario vus duration summary: one closed-loop wrk run of a scenario of
# bench/wrk/tally.lua — one thread per core of the load generator as pgbench -j 2,
# one connection per client; its summary (load.json's shape) goes to summary, its
# output to stdout.
wrk_load() {
	local scenario=$1 vus=$2 duration=$3 summary=$4
	cmd env SCENARIO="$scenario" VUS="$vus" KEY="$KEY" CUSTOMERS="$OUT/customers.json" SEARCH_N="$SEARCH_N" \
		BATCH_SIZE="${BENCH_BATCH_SIZE:-1000}" IDEMPOTENCY="$IDEMPOTENCY" SUMMARY="$summary" \
		wrk -t "$((vus < 2 ? vus : 2))" -c "$vus" -d "$duration" --latency --timeout 120s -s bench/wrk/tally.lua "$API"
}

# k6_load scenario mode vus rate duration summary: the same with bench/k6/tally.js.
k6_load() {
	local scenario=$1 mode=$2 vus=$3 rate=$4 duration=$5 summary=$6
	cmd "$BIN/k6" run --quiet --no-color --no-usage-report \
		-e SCENARIO="$scenario" -e MODE="$mode" -e VUS="$vus" -e RATE="${rate:-0}" -e DURATION="$duration" \
		-e API="$API" -e KEY="$KEY" -e CUSTOMERS="$OUT/customers.json" -e SEARCH_N="$SEARCH_N" \
		-e BATCH_SIZE="${BENCH_BATCH_SIZE:-1000}" -e IDEMPOTENCY="$IDEMPOTENCY" -e SUMMARY="$summary" \
		bench/k6/tally.js
}

# load_run scenario mode vus rate → runs wrk (closed loop) or k6, samples RSS and
# CPU, runs tally verify. Both write load.json in the same shape.
load_run() {
	local scenario=$1 mode=$2 vus=$3 rate=$4
	RUN_SEQ=$((RUN_SEQ + 1))
	local dir tool=k6
	[ "$mode" = closed ] && tool=$CLOSED_TOOL
	dir="$OUT/runs/$(printf '%02d' "$RUN_SEQ")-$scenario-$mode"
	mkdir -p "$dir"
	settle
	# Warm-up, unmeasured, as pgbench gets its own: the server's pool connections,
	# their prepared statements and caches are in place when the measured run starts.
	# (The open loop follows the closed loop of the same scenario: already warm.)
	if [ "${WARMUP%s}" = 0 ] || [ "$mode" != closed ]; then
		:
	elif [ "$tool" = wrk ]; then
		wrk_load "$scenario" "$vus" "$WARMUP" "$dir/warmup.json" >"$dir/warmup.out" 2>&1 || log "warm-up failed (see $dir/warmup.out)"
	else
		k6_load "$scenario" "$mode" "$vus" 0 "$WARMUP" "$dir/warmup.json" >"$dir/warmup.out" 2>&1 || log "warm-up failed (see $dir/warmup.out)"
	fi
	log "$tool $scenario $mode ($vus clients${rate:+, rate $rate/s}, $DURATION)"
	rss_sampler "$dir/rss_kb" &
	local sampler=$!
	local loadpid
	local profile_pid=""
	if [ "$scenario" = transfers ] && [ "$mode" = closed ]; then
		local secs=${DURATION%s}
		secs=$((secs > 6 ? secs - 4 : secs - 2))
		curl -fsS -o "$OUT/cpu-transfers.pprof" "http://$PPROF_ADDR/debug/pprof/profile?seconds=$secs" &
		profile_pid=$!
	fi
	if [ "$tool" = wrk ]; then
		wrk_load "$scenario" "$vus" "$DURATION" "$dir/load.json" >"$dir/load.out" 2>"$dir/load.log" &
	else
		k6_load "$scenario" "$mode" "$vus" "$rate" "$DURATION" "$dir/load.json" >"$dir/load.out" 2>"$dir/load.log" &
	fi
	loadpid=$!
	# CPU shares: sampled 1 s after the load starts and a few seconds before it ends (it runs
	# DURATION after a short setup), so start-up and verify stay out of the figure.
	# ($loadpid is the subshell running the command; the tool is its child.)
	( sleep 1; kp=$(pgrep -P "$loadpid" -x "$tool" | head -1); kp=${kp:-$loadpid}; cpu_snapshot "$kp" >"$dir/cpu0"
	  sleep "$(( ${DURATION%s} - 5 > 0 ? ${DURATION%s} - 5 : 1 ))"; cpu_snapshot "$kp" >"$dir/cpu1" ) &
	local cpupid=$!
	wait "$loadpid" || log "$tool exited non-zero (see $dir/load.log)"
	wait "$cpupid" 2>/dev/null || true
	tail -1 "$dir/load.out" | tee -a "$OUT/load-lines.txt" >&2
	touch "$dir/rss_kb.stop"
	wait "$sampler" 2>/dev/null || true
	[ -n "$profile_pid" ] && { wait "$profile_pid" || log "CPU profile failed"; }
	log "tally verify"
	if "$TALLY" verify >"$dir/verify.txt" 2>"$dir/verify.log"; then :; else log "VERIFY FAILED: $dir/verify.txt"; fi
	tail -1 "$dir/verify.txt" >&2
}

# closed_then_open scenario vus: the closed loop measures capacity; the open loop
# then offers OPEN_FRACTION of it at a constant arrival rate, which shows the
# latency a client sees below saturation (no coordinated omission).
closed_then_open() {
	local scenario=$1 vus=$2
	load_run "$scenario" closed "$vus" ""
	local closed_rate rate
	closed_rate=$(sed -nE 's/.*"req_rate": ([0-9.]+).*/\1/p' "$OUT/runs/$(printf '%02d' "$RUN_SEQ")-$scenario-closed/load.json")
	rate=$(awk -v r="${closed_rate:-0}" -v f="$OPEN_FRACTION" -v m="$OPEN_MAX" 'BEGIN { x = int(r * f + 0.5); if (x > m) x = m; if (x < 1) x = 1; print x }')
	load_run "$scenario" open "$vus" "$rate"
}

# paired_rounds: the ratio targets measured side by side. The machine's speed
# drifts by up to 30% within an hour (bench/README.md), and the scenario runs are
# minutes apart, so one window each decides a ratio by chance as much as by the
# code. Here pgbench tpcb-like, (1) transfers, (2) payouts, pgbench -S and (3)
# balances take turns in short closed-loop windows (each round in a rotated order,
# each window after an unmeasured 2 s run of the same load, so none starts with
# the other's pages in the cache), so drift falls on all alike; the report gives
# the ratios of their means beside the single-window ones. It runs where
# SCENARIOS names "paired": by default before search, whose million customers
# would push pgbench's tables out of shared_buffers.
paired_rounds() {
	if [ "$PAIRED_ROUNDS" -le 0 ] || [ "$CLOSED_TOOL" != wrk ]; then
		log "paired rounds skipped (BENCH_PAIRED_ROUNDS=$PAIRED_ROUNDS, closed-loop tool $CLOSED_TOOL: they need wrk)"
		return 0
	fi
	mkdir -p "$OUT/paired"
	settle
	local order=(tpcb transfers payouts select balances) r x line
	log "paired rounds: $PAIRED_ROUNDS × (${order[*]}), $PAIRED_DURATION each after 2 s unmeasured"
	for r in $(seq 1 "$PAIRED_ROUNDS"); do
		for x in "${order[@]}"; do
			case $x in
			tpcb | select)
				local s=""
				[ "$x" = select ] && s=-S
				pgbench -c "$VUS" -j 2 -T 2 $s "$PGB_URL" >/dev/null 2>&1 || true
				cmd pgbench -c "$VUS" -j 2 -T "${PAIRED_DURATION%s}" $s "$PGB_URL" >"$OUT/paired/$r-$x.txt" 2>&1
				;;
			*)
				for d in 2s "$PAIRED_DURATION"; do
					wrk_load "$x" "$VUS" "$d" "$OUT/paired/$r-$x.json" >"$OUT/paired/$r-$x.out" 2>&1
				done
				;;
			esac
		done
		line="round $r:"
		for x in tpcb select; do line+=" $x $(sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$OUT/paired/$r-$x.txt") tps,"; done
		for x in transfers payouts balances; do line+=" $(tail -1 "$OUT/paired/$r-$x.out" | cut -d, -f1),"; done
		log "${line%,}"
		order=("${order[@]:1}" "${order[0]}")
	done
	log "tally verify"
	"$TALLY" verify >"$OUT/paired/verify.txt" 2>&1 || log "VERIFY FAILED: $OUT/paired/verify.txt"
	tail -1 "$OUT/paired/verify.txt" >&2
}

echo "TALLY_REQUEST_TIMEOUT=5m tally verify   # after every run" >>"$OUT/commands.txt"
echo "psql \"\$DATABASE_URL\" -c 'VACUUM (ANALYZE)'; sync   # before every run (sync before every pgbench run too)" >>"$OUT/commands.txt"
for s in $SCENARIOS; do
	case $s in
	transfers | payouts | balances | mixed) closed_then_open "$s" "$VUS" ;;
	batch) closed_then_open batch "$BATCH_VUS" ;;
	paired) paired_rounds ;;
	search)
		log "loading customers up to $SEARCH_N for search (SQL generate_series)"
		cmd psql "$DB_URL" -v ON_ERROR_STOP=1 -q -v business="$BUSINESS" -v n="$SEARCH_N" -f bench/sql/customers.sql >>"$OUT/setup.log" 2>&1
		SEARCH_N=$((SEARCH_N - CUSTOMERS)) # the SQL-made customers are user1@… to user<SEARCH_N>@…
		closed_then_open search "$VUS"
		;;
	*) log "unknown scenario $s" ;;
	esac
done

echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
curl -fsS -o "$OUT/heap.pprof" "http://$PPROF_ADDR/debug/pprof/heap" || true
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

if [ -s "$OUT/cpu-transfers.pprof" ]; then
	{
		echo "Captured with \`curl http://$PPROF_ADDR/debug/pprof/profile?seconds=N\` during the closed-loop run of (1);"
		echo "top functions by cumulative CPU (\`go tool pprof -top -cum\`), server process only:"
		echo
		echo '```'
		go tool pprof -top -cum -nodecount=35 "$BIN/tally" "$OUT/cpu-transfers.pprof" 2>/dev/null | sed -n '1,45p'
		echo '```'
		if [ -s "$OUT/heap.pprof" ]; then
			echo
			echo "Heap at the end of the run (\`go tool pprof -top -sample_index=inuse_space\`):"
			echo
			echo '```'
			go tool pprof -top -sample_index=inuse_space -nodecount=15 "$BIN/tally" "$OUT/heap.pprof" 2>/dev/null | sed -n '1,22p'
			echo '```'
		fi
	} >"$OUT/profile.md"
fi
"$BENCHCTL" report -dir "$OUT" -out "$RESULTS"
log "results: $RESULTS (raw files in $OUT)"
