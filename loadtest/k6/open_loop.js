// Open-loop load on one route: RATE requests a second for SECS seconds, sent on schedule
// whatever the answers' latency (k6's constant-arrival-rate executor), so a slow answer
// shows as latency, not as fewer requests (the closed loop of wrk hides it). Each request
// uses the next token of the file TOKENS, starting at line OFFSET.
//
//   k6 run -e BASE=... -e SHOW=1 -e WHAT=join|poll -e RATE=5000 -e SECS=20 \
//          -e TOKENS=users.txt [-e OFFSET=0] loadtest/k6/open_loop.js
//
// loadtest/open_loop.sh runs it at rising rates and plots p99 against the offered rate.
import http from 'k6/http';
import exec from 'k6/execution';
import { fail } from 'k6';
import { SharedArray } from 'k6/data';

const BASE = __ENV.BASE || fail('BASE is required');
const SHOW = __ENV.SHOW || fail('SHOW is required');
const WHAT = __ENV.WHAT || fail('WHAT (join or poll) is required');
const RATE = parseInt(__ENV.RATE || fail('RATE is required'), 10);
const SECS = parseInt(__ENV.SECS || '20', 10);
const OFFSET = parseInt(__ENV.OFFSET || '0', 10);
const TOKENS = new SharedArray('tokens', () => open(__ENV.TOKENS).split('\n').filter((line) => line));

export const options = {
  discardResponseBodies: true,
  scenarios: {
    open: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: `${SECS}s`,
      // Enough virtual users for a 50 ms answer at this rate from the start, and up to a
      // second's worth when answers slow down; past that, requests are dropped (counted).
      preAllocatedVUs: Math.max(50, Math.ceil(RATE / 20)),
      maxVUs: Math.max(100, RATE),
    },
  },
  summaryTrendStats: ['med', 'p(99)', 'max'],
};

const url = `${BASE}/v1/shows/${SHOW}/queue`;

export default function () {
  const token = TOKENS[(OFFSET + exec.scenario.iterationInTest) % TOKENS.length];
  const params = { headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } };
  if (WHAT === 'join') {
    http.post(url, '{}', params);
  } else {
    http.get(url, params);
  }
}
