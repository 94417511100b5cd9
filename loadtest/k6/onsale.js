// An on-sale as fans live it: FANS fans arrive evenly over ARRIVAL_S seconds (an open
// arrival rate: a slow service doesn't slow the arrivals); each gets a token, joins the
// show's queue, polls its position (sleeping as long as the service's poll_after_ms asks),
// and once admitted looks at the seat map, holds one or two free seats (trying others on a
// 409) and confirms. When nothing is left it leaves the queue, giving its slot back. Each
// acknowledged join and each admission seen is logged (`JOINED seq`, `ACTIVE seq epoch_ms`)
// for the checks loadtest/onsale.sh makes against Postgres afterwards.
//
// A k6 VU costs about 470 KB here, so a VU per waiting fan stops at a few tens of thousands
// of fans on a 24 GB machine. Each iteration of the arrival-rate executor is therefore a
// group of FANS_PER_GROUP fans arriving one after another in the iteration's share of the
// arrival window, each an async task (http.asyncRequest, timers): a VU holds a group, not a
// fan, and 100,000 fans wait in a few thousand VUs. A group's fans share at most
// CONNECTIONS / groups connections (a request waits for one, as a browser's would): one
// process here may open 20,000 files, and the balancer takes 9,000 connections.
//
//   k6 run -e BASE=http://127.0.0.1:8080 -e SHOW=1 [-e FANS=2000] [-e ARRIVAL_S=60] loadtest/k6/onsale.js
//
// loadtest/onsale.sh starts a fresh stack and service, runs this and checks Postgres after.
import http from 'k6/http';
import { check, fail } from 'k6';
import { setTimeout } from 'k6/timers';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';

const BASE = __ENV.BASE || 'http://127.0.0.1:8080';
const SHOW = __ENV.SHOW || fail('SHOW (a show id) is required');
const FANS = parseInt(__ENV.FANS || '2000', 10);
const ARRIVAL_S = parseInt(__ENV.ARRIVAL_S || '60', 10);
// A fan sleeps as poll_after_ms says, up to this (the service asks for up to 30 s).
const MAX_POLL_SLEEP_S = parseFloat(__ENV.MAX_POLL_SLEEP_S || '30');
const FANS_PER_GROUP = parseInt(__ENV.FANS_PER_GROUP || String(Math.max(1, Math.ceil(FANS / 2000))), 10);
const GROUPS = Math.ceil(FANS / FANS_PER_GROUP);
const IN_FLIGHT_PER_GROUP = Math.max(1, Math.floor(parseInt(__ENV.CONNECTIONS || '8000', 10) / GROUPS));

export const options = {
  scenarios: {
    onsale: {
      executor: 'constant-arrival-rate',
      rate: GROUPS,
      timeUnit: `${ARRIVAL_S}s`,
      duration: `${ARRIVAL_S}s`,
      // Every group's VU made before the start: one made mid-run (k6 builds it then) starts late.
      preAllocatedVUs: GROUPS,
      maxVUs: GROUPS,
      // Fans who arrived keep waiting for their turn after the arrivals end.
      gracefulStop: '10m',
    },
  },
  thresholds: {
    server_errors: ['count==0'],
    unexpected_statuses: ['count==0'],
    // No latency threshold here: what k6 times on a machine it keeps busy is partly k6.
    // loadtest/onsale.sh judges the join p99 the service itself measured (/metrics).
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

const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

// The group's requests in flight (module state is per VU, and a VU runs one group).
let inFlight = 0;
const queued = [];

async function send(method, url, body, params) {
  if (inFlight < IN_FLIGHT_PER_GROUP) inFlight++;
  else await new Promise((resolve) => queued.push(resolve));
  try {
    return await http.asyncRequest(method, url, body, params);
  } finally {
    const next = queued.shift();
    if (next) next();
    else inFlight--;
  }
}

async function call(method, path, token, body, step, expected, headers = {}) {
  const params = { headers: { 'Content-Type': 'application/json', ...headers }, tags: { step } };
  if (token) params.headers.Authorization = `Bearer ${token}`;
  const res = await send(method, `${BASE}${path}`, body === undefined ? null : JSON.stringify(body), params);
  if (res.status >= 500) serverErrors.add(1, { step });
  if (!expected.includes(res.status)) {
    unexpected.add(1, { step, status: String(res.status) });
    console.warn(`${step}: unexpected ${res.status} ${res.body}`);
    return null;
  }
  return res;
}

async function waitForAdmission(queueToken, seq) {
  const started = Date.now();
  for (;;) {
    const res = await call('GET', `/v1/shows/${SHOW}/queue`, queueToken, undefined, 'poll', [200]);
    if (!res) return false;
    const body = res.json();
    if (body.status === 'active') {
      waitedS.add((Date.now() - started) / 1000);
      console.log(`ACTIVE ${seq} ${Date.now()}`);
      return true;
    }
    if (body.status === 'expired') return false;
    await sleep(Math.min(body.poll_after_ms / 1000, MAX_POLL_SLEEP_S));
  }
}

async function freeSeats(queueToken) {
  const res = await call('GET', `/v1/shows/${SHOW}/seats`, queueToken, undefined, 'seats', [200]);
  return res ? res.json().seats.filter((s) => s.status === 'available').map((s) => s.id) : [];
}

// Holds `want` seats picked at random among the free ones; on a 409 drops the lost seats and
// tries again, as a fan clicking on another seat would. Returns the held seat ids or null.
async function holdSeats(queueToken, free, want) {
  for (let attempt = 0; attempt < 5 && free.length >= want; attempt++) {
    const start = Math.floor(Math.random() * (free.length - want + 1));
    const pick = free.slice(start, start + want);
    const res = await call('POST', `/v1/shows/${SHOW}/holds`, queueToken, { seat_ids: pick }, 'hold', [201, 409]);
    if (!res) return null;
    if (res.status === 201) return pick;
    holdConflicts.add(1);
    const lost = new Set(res.json().error.seat_ids || pick);
    free = free.filter((id) => !lost.has(id));
  }
  return null;
}

// One fan, from arrival to purchase (or leaving when nothing is left).
async function fan(id) {
  const user = await call('POST', '/v1/tokens', null, {}, 'token', [201]);
  if (!user) return;
  const joined = await call('POST', `/v1/shows/${SHOW}/queue`, user.json().token, undefined, 'join', [200, 201]);
  if (!joined) return;
  const queueToken = joined.json().queue_token;
  const seq = joined.json().seq;
  if (joined.status === 201) console.log(`JOINED ${seq}`);
  if (joined.json().status === 'active') console.log(`ACTIVE ${seq} ${Date.now()}`);
  else if (!(await waitForAdmission(queueToken, seq))) return;

  const want = 1 + Math.floor(Math.random() * 2);
  const held = await holdSeats(queueToken, await freeSeats(queueToken), want);
  if (!held) {
    soldOut.add(1);
    await call('DELETE', `/v1/shows/${SHOW}/queue`, queueToken, undefined, 'leave', [204]);
    return;
  }
  const key = `fan-${id}`;
  const res = await call('POST', `/v1/shows/${SHOW}/reservations`, queueToken, { seat_ids: held }, 'confirm', [201], {
    'Idempotency-Key': key,
  });
  if (res && check(res, { 'reservation confirmed': (r) => r.json().status === 'confirmed' })) {
    reservations.add(1);
    seatsBought.add(held.length);
  }
}

// One group: its fans arrive evenly over the group's share of the arrival window.
export default async function () {
  const group = exec.scenario.iterationInTest;
  const gap = (ARRIVAL_S * 1000) / FANS;
  const fans = [];
  for (let i = 0; i < FANS_PER_GROUP; i++) {
    const id = group * FANS_PER_GROUP + i;
    if (id >= FANS) break;
    fans.push(sleep((i * gap) / 1000).then(() => fan(id)));
  }
  await Promise.all(fans);
}
