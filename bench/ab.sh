#!/usr/bin/env bash
# bench/ab.sh — A/B two (or more) builds of tally on one scenario, alternating
# short closed-loop wrk runs, each build on a fresh database of its own (migrated
# by that build, 1,000 funded customers). The figures of docs/scaling.md §7 that
# say "A/B … alternating 10 s runs" come from this.
#
#   bench/ab.sh SCENARIO ROUNDS DURATION LABEL=BINARY LABEL=BINARY ...
#   e.g. git worktree add /tmp/old HEAD~1 && (cd /tmp/old && go build -o /tmp/tally-old ./cmd/tally)
#        go build -o /tmp/tally-new ./cmd/tally
#        bench/ab.sh transfers 3 10s old=/tmp/tally-old new=/tmp/tally-new
#
# SCENARIO is one of bench/wrk/tally.lua's (transfers, payouts, balances, mixed,
# batch; search needs its million customers, see run.sh). Each run is preceded by a
# 3 s warm-up on the same server. Each line ends with the CPU time the server and
# PostgreSQL spent per request (per transfer for batch; postgres processes that
# exit during the run, autovacuum workers, drop out of the sum) and the WAL written
# per request, which does not move with the machine's speed. Environment: AB_VUS (default 32; batch: 2),
# AB_PORT (18081), AB_KEEP=1 keeps the databases. Uses the embedded cluster.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[ $# -ge 5 ] || { sed -n 2,16p "$0"; exit 2; }
SCENARIO=$1 ROUNDS=$2 DURATION=$3
shift 3
VUS=${AB_VUS:-$([ "$SCENARIO" = batch ] && echo 2 || echo 32)}
PORT=${AB_PORT:-18081}
API="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
go build -o "$WORK/benchctl" ./bench/benchctl

PID=""
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=""; }
cleanup() {
	stop || true
	if [ "${AB_KEEP:-0}" != 1 ] && [ -n "${ADMIN:-}" ]; then
		for arm in "${ARMS[@]}"; do psql "$ADMIN" -qc "DROP DATABASE IF EXISTS tally_ab_${arm%%=*} WITH (FORCE)" >/dev/null 2>&1 || true; done
	fi
	rm -rf "$WORK"
}
ARMS=("$@")
trap cleanup EXIT

serve() { # binary url
	TALLY_ADDR="127.0.0.1:$PORT" TALLY_WORKERS=false TALLY_RATE_LIMIT_RPS=1000000 TALLY_RATE_LIMIT_BURST=1000000 \
		DATABASE_URL=$2 "$1" serve >>"$WORK/server.log" 2>&1 &
	PID=$!
	for _ in $(seq 100); do curl -fsS "$API/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "tally did not start; see $WORK/server.log" >&2
	exit 1
}

for arm in "${ARMS[@]}"; do
	label=${arm%%=*} bin=${arm#*=}
	[[ $label =~ ^[a-z0-9_]+$ ]] || { echo "label $label: use a-z, 0-9, _" >&2; exit 2; }
	ADMIN=$("$bin" devdb start postgres)
	psql "$ADMIN" -qc "DROP DATABASE IF EXISTS tally_ab_$label WITH (FORCE)" >/dev/null 2>&1
	url=$("$bin" devdb start "tally_ab_$label")
	DATABASE_URL=$url "$bin" migrate >/dev/null 2>&1
	biz=$(DATABASE_URL=$url "$bin" businesses create --name "AB $label")
	key=$(sed -nE 's/.*"secret_key": "([^"]+)".*/\1/p' <<<"$biz")
	rail=$(DATABASE_URL=$url "$bin" rails keys create | sed -nE 's/.*"rail_key": "([^"]+)".*/\1/p')
	DATABASE_URL=$url "$bin" fees set --business "$(sed -nE 's/.*"id": "([^"]+)".*/\1/p' <<<"$biz")" --currency USD --fixed 0.10 --percent 0 >/dev/null
	serve "$bin" "$url"
	"$WORK/benchctl" seed -api "$API" -key "$key" -rail-key "$rail" -n 1000 -amount 1000000 -out "$WORK/$label-customers.json" >/dev/null
	stop
	psql "$url" -qc "VACUUM ANALYZE"
	echo "$url" >"$WORK/$label.url"
	echo "$key" >"$WORK/$label.key"
	echo "prepared $label ($bin)" >&2
done

load() { # label duration
	SCENARIO=$SCENARIO VUS=$VUS KEY=$(cat "$WORK/$1.key") CUSTOMERS="$WORK/$1-customers.json" SEARCH_N=1000 \
		BATCH_SIZE=1000 IDEMPOTENCY=1 SUMMARY="$WORK/summary.json" \
		wrk -t "$((VUS < 2 ? VUS : 2))" -c "$VUS" -d "$2" --latency --timeout 120s -s bench/wrk/tally.lua "$API" 2>&1 | tail -1
}

# wal_written prints the cluster's WAL records and bytes so far (pg_stat_wal): per
# request, how much PostgreSQL wrote — the same whatever the machine's speed (the
# cluster is shared, so anything else running on it counts too).
wal_written() { psql "$(cat "$WORK/$1.url")" -tAF' ' -c "SELECT wal_records, wal_bytes FROM pg_stat_wal"; }

# cpu_ticks prints the CPU ticks (1/100 s) used so far by the server and by every
# postgres process: their difference over a run, per request, is what a request
# cost in CPU, which moves less with the machine's speed than throughput does.
cpu_ticks() {
	local p=0 pid
	for pid in $(pgrep -u postgres 2>/dev/null); do p=$((p + $(awk '{print $14+$15}' "/proc/$pid/stat" 2>/dev/null || echo 0))); done
	echo "$(awk '{print $14+$15}' "/proc/$PID/stat") $p"
}

for r in $(seq "$ROUNDS"); do
	for arm in "${ARMS[@]}"; do
		label=${arm%%=*} bin=${arm#*=}
		serve "$bin" "$(cat "$WORK/$label.url")"
		load "$label" 3s >/dev/null
		before=$(cpu_ticks) wal0=$(wal_written "$label")
		line=$(load "$label" "$DURATION")
		after=$(cpu_ticks) wal1=$(wal_written "$label")
		n=$(sed -nE 's/.*"requests": ([0-9]+).*/\1/p' "$WORK/summary.json")
		cpu=$(awk -v b="$before" -v a="$after" -v n="${n:-0}" -v m="$([ "$SCENARIO" = batch ] && echo 1000 || echo 1)" 'BEGIN {
			split(b, x, " "); split(a, y, " "); if (n == 0) { print "cpu n/a"; exit }
			printf "cpu per %s: tally %.0f µs, postgres %.0f µs", (m > 1 ? "transfer" : "request"),
				(y[1] - x[1]) * 10000 / (n * m), (y[2] - x[2]) * 10000 / (n * m) }')
		wal=$(awk -v b="$wal0" -v a="$wal1" -v n="${n:-0}" -v m="$([ "$SCENARIO" = batch ] && echo 1000 || echo 1)" 'BEGIN {
			split(b, x, " "); split(a, y, " "); if (n == 0) exit
			printf "WAL %.1f records, %.0f bytes", (y[1] - x[1]) / (n * m), (y[2] - x[2]) / (n * m) }')
		echo "round $r $label: $line; $cpu; $wal"
		stop
	done
done
