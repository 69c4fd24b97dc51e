// Held-poll soak with a set stream: VUS virtual users each hold one poll most of the time; after
// THINK_MS (random, 50-100% of it) the "phone backend" sets scanned, the poll wakes and re-polls,
// and after another think the backend sets confirmed. Each VU is one browser tab logging in
// again and again, so VUS held polls see about VUS / THINK_MS * 1000 sets per second in all.
//
//   k6 run -e PUBLIC_URLS=http://10.0.0.1:11000 -e PRIVATE_URLS=http://10.0.0.1:11001 \
//          -e VUS=5000 -e DURATION=10m -e THINK_MS=10000 k6/held-polls-soak.js
//
// Not run here (k6 is not installable on this machine); type-checked against @types/k6 by
// `npm run typecheck`. Written against the k6 JavaScript API, v0.52 or newer.
import { DURATION, HOLD_MS, VUS, delay, scanThenConfirm } from './lib.js';

// The poll must still be held when the set is sent: stay 2 s under the server's hold.
const THINK_MS = Math.min(Number(__ENV.THINK_MS || 10000), HOLD_MS - 2000);

export const options = {
  scenarios: {
    soak: {
      executor: 'constant-vus',
      vus: VUS,
      duration: DURATION,
      gracefulStop: `${Math.ceil(HOLD_MS / 1000) + 15}s`,
    },
  },
  thresholds: {
    wake_latency: [`p(50)<${__ENV.P50_MS || 50}`, `p(99)<${__ENV.P99_MS || 250}`, `p(99.9)<${__ENV.P999_MS || 1000}`],
    errors: [`rate<${__ENV.MAX_ERROR_RATE || 0.001}`],
    lost_wakes: ['count==0'],
    'http_req_failed{name:status_set}': ['rate<0.001'],
    'http_req_failed{name:status_new}': ['rate<0.001'],
  },
  // Each VU keeps one connection for its polls, as a browser tab does.
  noConnectionReuse: false,
  discardResponseBodies: false,
};

const think = () => delay(THINK_MS * (0.5 + Math.random() * 0.5));

export default function () {
  return scanThenConfirm(think);
}
