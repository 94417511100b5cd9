// An on-sale as fans live it: FANS fans arrive evenly over ARRIVAL_S seconds (an open
// arrival rate: a slow service doesn't slow the arrivals); each gets a token, joins the
// show's queue, polls its position (sleeping as long as the service's poll_after_ms asks),
// and once admitted looks at the seat map, holds one or two free seats (trying others on a
// 409) and confirms. When nothing is left it leaves the queue, giving its slot back. Each
// acknowledged join and each admission seen is logged (`JOINED seq`, `ACTIVE seq epoch_ms`)
// for the checks loadtest/onsale.sh makes against Postgres afterwards.
//
//   k6 run -e BASE=http://127.0.0.1:8080 -e SHOW=1 [-e FANS=2000] [-e ARRIVAL_S=60] loadtest/k6/onsale.js
//
// loadtest/onsale.sh starts a fresh stack and service, runs this and checks Postgres after.
import http from 'k6/http';
import { check, fail, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const BASE = __ENV.BASE || 'http://127.0.0.1:8080';
const SHOW = __ENV.SHOW || fail('SHOW (a show id) is required');
const FANS = parseInt(__ENV.FANS || '2000', 10);
const ARRIVAL_S = parseInt(__ENV.ARRIVAL_S || '60', 10);
const MAX_POLL_SLEEP_S = parseFloat(__ENV.MAX_POLL_SLEEP_S || '2');

export const options = {
  scenarios: {
    onsale: {
      executor: 'constant-arrival-rate',
      rate: FANS,
      timeUnit: `${ARRIVAL_S}s`,
      duration: `${ARRIVAL_S}s`,
      preAllocatedVUs: Math.min(FANS, 1000),
      maxVUs: FANS,
      // Fans who arrived keep waiting for their turn after the arrivals end.
      gracefulStop: '10m',
    },
  },
  thresholds: {
    server_errors: ['count==0'],
    unexpected_statuses: ['count==0'],
    // As k6 saw it, on a machine k6 itself keeps busy: a bound, not a speed figure (the
    // service's own timings are printed by loadtest/onsale.sh from /metrics).
    http_req_duration: ['p(99)<2000'],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

const serverErrors = new Counter('server_errors');
const unexpected = new Counter('unexpected_statuses');
const seatsBought = new Counter('seats_bought');
const reservations = new Counter('reservations');
const holdConflicts = new Counter('hold_conflicts');
const soldOut = new Counter('fans_sold_out');
const waitedS = new Trend('queue_wait_seconds');

function call(method, path, token, body, step, expected, headers = {}) {
  const params = { headers: { 'Content-Type': 'application/json', ...headers }, tags: { step } };
  if (token) params.headers.Authorization = `Bearer ${token}`;
  const res = http.request(method, `${BASE}${path}`, body === undefined ? null : JSON.stringify(body), params);
  if (res.status >= 500) serverErrors.add(1, { step });
  if (!expected.includes(res.status)) {
    unexpected.add(1, { step, status: String(res.status) });
    console.warn(`${step}: unexpected ${res.status} ${res.body}`);
    return null;
  }
  return res;
}

function waitForAdmission(queueToken, seq) {
  const started = Date.now();
  for (;;) {
    const res = call('GET', `/v1/shows/${SHOW}/queue`, queueToken, undefined, 'poll', [200]);
    if (!res) return false;
    const body = res.json();
    if (body.status === 'active') {
      waitedS.add((Date.now() - started) / 1000);
      console.log(`ACTIVE ${seq} ${Date.now()}`);
      return true;
    }
    if (body.status === 'expired') return false;
    sleep(Math.min(body.poll_after_ms / 1000, MAX_POLL_SLEEP_S));
  }
}

function freeSeats(queueToken) {
  const res = call('GET', `/v1/shows/${SHOW}/seats`, queueToken, undefined, 'seats', [200]);
  return res ? res.json().seats.filter((s) => s.status === 'available').map((s) => s.id) : [];
}

// Holds `want` seats picked at random among the free ones; on a 409 drops the lost seats and
// tries again, as a fan clicking on another seat would. Returns the held seat ids or null.
function holdSeats(queueToken, free, want) {
  for (let attempt = 0; attempt < 5 && free.length >= want; attempt++) {
    const start = Math.floor(Math.random() * (free.length - want + 1));
    const pick = free.slice(start, start + want);
    const res = call('POST', `/v1/shows/${SHOW}/holds`, queueToken, { seat_ids: pick }, 'hold', [201, 409]);
    if (!res) return null;
    if (res.status === 201) return pick;
    holdConflicts.add(1);
    const lost = new Set(res.json().error.seat_ids || pick);
    free = free.filter((id) => !lost.has(id));
  }
  return null;
}

export default function () {
  const user = call('POST', '/v1/tokens', null, {}, 'token', [201]);
  if (!user) return;
  const joined = call('POST', `/v1/shows/${SHOW}/queue`, user.json().token, undefined, 'join', [200, 201]);
  if (!joined) return;
  const queueToken = joined.json().queue_token;
  const seq = joined.json().seq;
  if (joined.status === 201) console.log(`JOINED ${seq}`);
  if (joined.json().status === 'active') console.log(`ACTIVE ${seq} ${Date.now()}`);
  else if (!waitForAdmission(queueToken, seq)) return;

  const want = 1 + Math.floor(Math.random() * 2);
  const held = holdSeats(queueToken, freeSeats(queueToken), want);
  if (!held) {
    soldOut.add(1);
    call('DELETE', `/v1/shows/${SHOW}/queue`, queueToken, undefined, 'leave', [204]);
    return;
  }
  const key = `${__VU}-${__ITER}`;
  const res = call('POST', `/v1/shows/${SHOW}/reservations`, queueToken, { seat_ids: held }, 'confirm', [201], {
    'Idempotency-Key': key,
  });
  if (res && check(res, { 'reservation confirmed': (r) => r.json().status === 'confirmed' })) {
    reservations.add(1);
    seatsBought.add(held.length);
  }
}
