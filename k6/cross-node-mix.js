// Cross-node mix for a cluster (2 or more nodes behind one Redis): each VU mints its session and
// holds its poll on one node, and the backend sets the status on another node with probability
// CROSS_RATIO (default 0.8; the set is then forwarded node to node), else on the same node.
// Latency is tagged path:cross or path:local, so the forward's cost shows as the difference.
// It also checks two rules that must hold across nodes: a transition that skips a step is refused
// (409), and a confirmed status is handed out once (the next poll gets 410).
//
//   k6 run -e PUBLIC_URLS=http://n1:11000,http://n2:11000,http://n3:11000 \
//          -e PRIVATE_URLS=http://n1:11001,http://n2:11001,http://n3:11001 \
//          -e INTERNAL_TOKEN=... -e VUS=3000 -e DURATION=5m k6/cross-node-mix.js
//
// PUBLIC_URLS[i] and PRIVATE_URLS[i] must be the same node. Not run here (k6 is not installable on
// this machine); type-checked against @types/k6 by `npm run typecheck`. Written against the k6
// JavaScript API, v0.52 or newer.
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import {
  DURATION, HOLD_MS, PRIVATE_URLS, PUBLIC_URLS, VUS, createSession, delay, errors, setAndAwaitWake, startPoll, startSet,
} from './lib.js';

const CROSS_RATIO = Number(__ENV.CROSS_RATIO || 0.8);
const THINK_MS = Math.min(Number(__ENV.THINK_MS || 3000), HOLD_MS - 2000);
/** Share of iterations that also probe the 409 and 410 rules. */
const PROBE_RATIO = Number(__ENV.PROBE_RATIO || 0.05);
const rulesHeld = new Rate('rules_held');

if (PUBLIC_URLS.length !== PRIVATE_URLS.length) {
  throw new Error('PUBLIC_URLS and PRIVATE_URLS must list the same nodes in the same order');
}

export const options = {
  scenarios: {
    mix: {
      executor: 'constant-vus',
      vus: VUS,
      duration: DURATION,
      gracefulStop: `${Math.ceil(HOLD_MS / 1000) + 15}s`,
    },
  },
  thresholds: {
    'wake_latency{path:local}': [`p(99)<${__ENV.P99_LOCAL_MS || 250}`],
    'wake_latency{path:cross}': [`p(99)<${__ENV.P99_CROSS_MS || 300}`, `p(99.9)<${__ENV.P999_CROSS_MS || 1000}`],
    errors: [`rate<${__ENV.MAX_ERROR_RATE || 0.001}`],
    lost_wakes: ['count==0'],
    undelivered_sets: [`count<${__ENV.MAX_UNDELIVERED || 1}`],
    rules_held: ['rate==1'],
  },
};

const think = () => delay(THINK_MS * (0.5 + Math.random() * 0.5));

/** A node index for the set: another node with probability CROSS_RATIO (when there is one). */
function setNode(pollNode) {
  const n = PRIVATE_URLS.length;
  if (n < 2 || Math.random() >= CROSS_RATIO) return { node: pollNode, path: 'local' };
  const other = (pollNode + 1 + Math.floor(Math.random() * (n - 1))) % n;
  return { node: other, path: 'cross' };
}

export default async function () {
  const pollNode = Math.floor(Math.random() * PUBLIC_URLS.length);
  const session = createSession(PUBLIC_URLS[pollNode]);
  if (session === null) {
    await delay(1000);
    return;
  }
  const probe = Math.random() < PROBE_RATIO;
  if (probe) {
    // pending -> confirmed skips scanned: refused with 409 whichever node is asked.
    const res = await startSet(PRIVATE_URLS[setNode(pollNode).node], session.key, 'confirmed', {
      tags: { name: 'status_set_probe' },
      responseCallback: http.expectedStatuses(409),
    });
    rulesHeld.add(check(res, { 'skipping a step is refused (409)': (r) => r.status === 409 }));
  }
  let poll = startPoll(session, 0);
  await think();
  let target = setNode(pollNode);
  const scanned = await setAndAwaitWake(session, poll, PRIVATE_URLS[target.node], 'scanned', 1, { step: 'scanned', path: target.path });
  if (scanned === null) return;
  poll = startPoll(session, scanned.version);
  await think();
  target = setNode(pollNode);
  const confirmed = await setAndAwaitWake(session, poll, PRIVATE_URLS[target.node], 'confirmed', 2, { step: 'confirmed', path: target.path });
  if (confirmed === null || !probe) return;
  // The final status was handed out once; asking again (on any node) answers 410.
  const again = http.get(`${PUBLIC_URLS[(pollNode + 1) % PUBLIC_URLS.length]}/status/get?key=${session.key}&since=0`, {
    headers: { Authorization: `Bearer ${session.pollToken}` },
    tags: { name: 'status_get_again' },
    responseCallback: http.expectedStatuses(410),
  });
  const ok = check(again, { 'a final status is handed out once (410)': (r) => r.status === 410 });
  rulesHeld.add(ok);
  errors.add(!ok, { op: 'final-once' });
}
