// k6 scenarios of the Tally load benchmark; bench/run.sh runs this file for the
// open-loop runs (and the closed-loop ones where wrk is missing). Environment:
//   SCENARIO  transfers | payouts | balances | search | mixed | batch
//   MODE      closed (constant-vus, VUS) | open (constant-arrival-rate, RATE req/s)
//   API, KEY, CUSTOMERS (JSON file of customer ids), DURATION, VUS, RATE,
//   SEARCH_N (customers seeded by SQL, emails user<i>@…), BATCH_SIZE,
//   IDEMPOTENCY (1: every POST carries a unique Idempotency-Key), SUMMARY (output file)
import http from 'k6/http';
import { Counter } from 'k6/metrics';
import { SharedArray } from 'k6/data';
import exec from 'k6/execution';

const scenario = __ENV.SCENARIO || 'transfers';
const mode = __ENV.MODE || 'closed';
const api = __ENV.API || 'http://127.0.0.1:18080';
const key = __ENV.KEY;
const duration = __ENV.DURATION || '30s';
const vus = parseInt(__ENV.VUS || '32', 10);
const rate = parseInt(__ENV.RATE || '100', 10);
const searchN = parseInt(__ENV.SEARCH_N || '1000000', 10);
const batchSize = parseInt(__ENV.BATCH_SIZE || '1000', 10);
const idempotency = (__ENV.IDEMPOTENCY || '1') === '1';

const customers = new SharedArray('customers', () => JSON.parse(open(__ENV.CUSTOMERS)));

const codes = [200, 201, 400, 401, 403, 404, 409, 413, 422, 429, 500, 503];
const statusCounters = {};
for (const c of codes) statusCounters[c] = new Counter(`status_${c}`);
const statusOther = new Counter('status_other');
const statusNone = new Counter('status_0');

function executor() {
  if (mode === 'open') {
    // A batch sender must not run twice at once (see batch()), so the batch
    // scenario never has more VUs than senders.
    const max = scenario === 'batch' ? vus : Math.max(4 * vus, 128);
    return { executor: 'constant-arrival-rate', rate: rate, timeUnit: '1s', duration: duration,
      preAllocatedVUs: scenario === 'batch' ? vus : Math.min(max, 2 * vus), maxVUs: max, gracefulStop: '10s' };
  }
  return { executor: 'constant-vus', vus: vus, duration: duration, gracefulStop: '10s' };
}

export const options = {
  scenarios: { [scenario]: executor() },
  summaryTrendStats: ['avg', 'med', 'p(90)', 'p(99)', 'max'],
  discardResponseBodies: true,
  noConnectionReuse: false,
  insecureSkipTLSVerify: false,
  setupTimeout: '60s',
};

function record(res) {
  const c = statusCounters[res.status];
  if (c) c.add(1);
  else if (res.status === 0) statusNone.add(1);
  else statusOther.add(1);
}

function headers(profile, write) {
  const h = { Authorization: `Bearer ${key}` };
  if (profile) h['X-BU-PROFILE-ID'] = profile;
  if (write) {
    h['Content-Type'] = 'application/json';
    if (idempotency) h['Idempotency-Key'] = `bench-${exec.vu.idInTest}-${exec.vu.iterationInInstance}-${Date.now()}-${Math.random()}`;
  }
  return h;
}

function pick() { return customers[Math.floor(Math.random() * customers.length)]; }

function transfer() {
  const from = pick();
  let to = pick();
  while (to === from) to = pick();
  const body = JSON.stringify({ currency: 'USD', amount: '0.01', to_profile_id: to });
  record(http.post(`${api}/v1/transfers`, body, { headers: headers(from, true), tags: { op: 'transfer' } }));
}

function payout() {
  const body = JSON.stringify({ currency: 'USD', amount: '1.00', network: 'bank', address: '0123456789',
    beneficiary: { name: 'Bench Beneficiary', institution: 'Bench Bank', country: 'US' }, reference: 'bench' });
  record(http.post(`${api}/v1/payouts`, body, { headers: headers(pick(), true), tags: { op: 'payout' } }));
}

function balances() {
  record(http.get(`${api}/v1/balances`, { headers: headers(pick(), false), tags: { op: 'read' } }));
}

function search() {
  const q = `user${1 + Math.floor(Math.random() * searchN)}@`;
  record(http.get(`${api}/v1/customers?q=${encodeURIComponent(q)}&limit=20`, { headers: headers('', false), tags: { op: 'search' } }));
}

// batch: VU v sends from customers[v-1] to its own slice of the remaining
// customers, so concurrent batches share no balance row: no lock waits and no
// deadlocks between batches (each batch holds its rows until it commits).
function batch() {
  const senders = vus;
  const v = (exec.vu.idInTest - 1) % senders;
  const from = customers[v];
  const group = [];
  for (let i = senders + v; i < customers.length; i += senders) group.push(customers[i]);
  const items = [];
  for (let i = 0; i < batchSize; i++) items.push({ currency: 'USD', amount: '0.01', to_profile_id: group[i % group.length] });
  const body = JSON.stringify({ transfers: items, atomic: true });
  record(http.post(`${api}/v1/transfers/batch`, body, { headers: headers(from, true), tags: { op: 'batch' }, timeout: '120s' }));
}

export default function () {
  switch (scenario) {
    case 'transfers': return transfer();
    case 'payouts': return payout();
    case 'balances': return balances();
    case 'search': return search();
    case 'batch': return batch();
    case 'mixed': {
      const r = Math.random();
      if (r < 0.7) return balances();
      if (r < 0.9) return transfer();
      return payout();
    }
  }
  throw new Error(`unknown SCENARIO ${scenario}`);
}

export function handleSummary(data) {
  const m = data.metrics;
  const v = (name, stat) => (m[name] && m[name].values[stat] !== undefined ? m[name].values[stat] : 0);
  const statuses = [];
  for (const name of Object.keys(m).sort()) {
    if (name.startsWith('status_') && v(name, 'count') > 0) statuses.push(`${name.slice(7)}×${v(name, 'count')}`);
  }
  const out = {
    scenario, mode, vus, rate: mode === 'open' ? rate : 0,
    duration_s: data.state.testRunDurationMs / 1000,
    requests: v('http_reqs', 'count'), req_rate: v('http_reqs', 'rate'),
    per_request: scenario === 'batch' ? batchSize : 1,
    p50_ms: v('http_req_duration', 'med'), p90_ms: v('http_req_duration', 'p(90)'),
    p99_ms: v('http_req_duration', 'p(99)'), max_ms: v('http_req_duration', 'max'),
    failed: v('http_req_failed', 'passes'), dropped: v('dropped_iterations', 'count'),
    statuses: statuses.join(' '),
  };
  const line = `${scenario}/${mode}: ${out.req_rate.toFixed(1)} req/s, p50 ${out.p50_ms.toFixed(1)} ms, p99 ${out.p99_ms.toFixed(1)} ms, failed ${out.failed}, dropped ${out.dropped} [${out.statuses}]\n`;
  return { [__ENV.SUMMARY || 'summary.json']: JSON.stringify(out, null, 2), stdout: line };
}
