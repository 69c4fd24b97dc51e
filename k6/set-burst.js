// Set bursts: VUS virtual users each hold a poll, and every BURST_EVERY_MS (aligned to the wall
// clock, so all VUs fire together) each of them sets its key. One burst is VUS sets within a few
// milliseconds, all to held polls: the worst case of a promotion or a morning login rush.
//
//   k6 run -e PUBLIC_URLS=http://10.0.0.1:11000 -e PRIVATE_URLS=http://10.0.0.1:11001 \
//          -e VUS=2000 -e DURATION=2m -e BURST_EVERY_MS=5000 k6/set-burst.js
//
// Not run here (k6 is not installable on this machine); type-checked against @types/k6 by
// `npm run typecheck`. Written against the k6 JavaScript API, v0.52 or newer.
import { DURATION, HOLD_MS, VUS, delay, scanThenConfirm } from './lib.js';

// Keep a burst inside one hold, so every poll is still held when its set fires.
const BURST_EVERY_MS = Math.min(Number(__ENV.BURST_EVERY_MS || 5000), HOLD_MS - 2000);
/** A poll sent less than this before a burst waits for the next one (so it is surely held). */
const MIN_HELD_MS = 500;

export const options = {
  scenarios: {
    burst: {
      executor: 'constant-vus',
      vus: VUS,
      duration: DURATION,
      gracefulStop: `${Math.ceil(HOLD_MS / 1000) + 15}s`,
    },
  },
  thresholds: {
    wake_latency: [`p(50)<${__ENV.P50_MS || 250}`, `p(99)<${__ENV.P99_MS || 2000}`, `max<${__ENV.MAX_MS || 5000}`],
    errors: [`rate<${__ENV.MAX_ERROR_RATE || 0.001}`],
    lost_wakes: ['count==0'],
    'http_req_failed{name:status_set}': ['rate<0.001'],
  },
};

/** Waits for the next burst boundary at least MIN_HELD_MS away. */
function untilNextBurst() {
  const now = Date.now();
  let next = Math.ceil(now / BURST_EVERY_MS) * BURST_EVERY_MS;
  if (next - now < MIN_HELD_MS) next += BURST_EVERY_MS;
  return delay(next - now);
}

export default function () {
  return scanThenConfirm(untilNextBurst);
}
