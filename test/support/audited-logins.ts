// Logins driven over HTTP the way a site drives them through a Redis failover, with a ledger of
// what qrelay acknowledged and an audit of that ledger against what qrelay answers afterwards.
//
// The site's backend (sets, redemptions) and its page (polls) retry a 503 after its Retry-After,
// and a request that got no answer after a second, as real clients do, sending each request to
// the next node in turn. An attempt that got no 200 may still have happened, so a retry that finds
// its own change already made is no error; but only an answer that said yes enters the ledger.
// The ledger is the truth the audit holds qrelay to: every acknowledged change is still there
// after the failover, no `confirmed` is handed out twice, no ticket redeems twice.
//
// Anomalies name the login by its index and never carry a poll token or a ticket.

/** The steps of one login after its mint, in order. */
export const STEPS = ['scanned', 'confirmed', 'handedOut', 'redeemed'] as const;
export type Step = (typeof STEPS)[number];

export interface Endpoint {
  readonly publicUrl: string;
  readonly privateUrl: string;
}

/**
 * `lost`: an acknowledged set, hand-out or redemption is gone. `mint-lost`: a session is gone
 * before its first change (qrelay does not wait for replicas on a creation: a page whose session
 * is lost mints another), counted apart.
 */
export type AnomalyKind = 'lost' | 'mint-lost' | 'handed-out-twice' | 'redeemed-twice' | 'stuck';

export interface Anomaly {
  readonly login: number;
  readonly kind: AnomalyKind;
  readonly detail: string;
}

export interface Login {
  readonly index: number;
  readonly key: string;
  readonly pollToken: string;
  /** The newest state a 200 acknowledged to the backend: the mint's pending v0, then each set's. */
  acked: { version: number; status: string };
  reached: Step | 'minted';
  ticket?: string;
  /** 200s that handed this login's `confirmed` (with a ticket) to its page. */
  handOuts: number;
  /** 200s that redeemed its ticket. */
  redemptions: number;
}

/** One login being driven: how often it was refused (503 or no answer) and whether it is over. */
export interface Flow {
  login?: Login;
  refusals: number;
  settled: boolean;
  readonly done: Promise<void>;
}

/** Counts of logins (each counted once per kind of anomaly it shows). */
export interface Summary {
  readonly logins: number;
  readonly completed: number;
  readonly lost: number;
  readonly mintsLost: number;
  readonly handedOutTwice: number;
  readonly redeemedTwice: number;
  readonly stuck: number;
  /** Answers of 500 or above other than 503: a client can only guess what they mean. */
  readonly serverErrors: number;
}

export interface AuditedLoginsOptions {
  /** What the nodes' private listeners take (INTERNAL_TOKEN). */
  internalToken: string;
  /** The actor every scan and confirm names. */
  actor?: string;
  /** Longest hold a poll asks for, ms. */
  pollWaitMs?: number;
  /** A request not answered within this is given up and retried, ms. */
  requestTimeoutMs?: number;
}

const ACTOR = 'chaos-user';
const NO_ANSWER_RETRY_MS = 1_000;

/** A login that cannot go on: its anomaly is recorded. */
class LoginOver extends Error {}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** Whether an earlier attempt of this request was refused or got no answer (it may have happened). */
  readonly retried: boolean;
}

interface Peeked {
  readonly status: string;
  readonly version: number;
  readonly delivered: boolean;
}

const errorCode = (body: Record<string, unknown>): string => {
  const error = body['error'];
  return typeof error === 'object' && error !== null && typeof (error as Record<string, unknown>)['code'] === 'string' ? String((error as Record<string, unknown>)['code']) : '';
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class AuditedLogins {
  readonly logins: Login[] = [];
  readonly anomalies: Anomaly[] = [];
  /** Each set's time from its first attempt to its answer, retries included, ms. */
  readonly setTimes: number[] = [];
  /** Give-up time of every flow and of the audit (epoch ms); the test moves it. */
  deadline = Date.now() + 60_000;
  #serverErrors = 0;
  #next = 0;
  readonly #nodes: readonly Endpoint[];
  readonly #token: string;
  readonly #actor: string;
  readonly #pollWaitMs: number;
  readonly #requestTimeoutMs: number;

  constructor(nodes: readonly Endpoint[], options: AuditedLoginsOptions) {
    this.#nodes = nodes;
    this.#token = options.internalToken;
    this.#actor = options.actor ?? ACTOR;
    this.#pollWaitMs = options.pollWaitMs ?? 1_000;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
  }

  /**
   * Mints a login and drives it up to `to` in the background, `delayMs` from now; or drives
   * `from` on, when given. `accept` may turn a minted session down (it is then left alone and
   * another is minted).
   */
  start(to: Step, from?: Login, accept?: (key: string) => Promise<boolean>, delayMs = 0): Flow {
    const flow: { login?: Login; refusals: number; settled: boolean } = { login: from, refusals: 0, settled: false };
    const done = (async () => {
      try {
        if (delayMs > 0) await sleep(delayMs);
        flow.login ??= await this.#mint(flow, accept);
        await this.#advance(flow.login, to, flow);
      } catch (err) {
        if (!(err instanceof LoginOver)) throw err;
      } finally {
        flow.settled = true;
      }
    })();
    return Object.assign(flow, { done });
  }

  /** Mints and drives `count` logins up to `to`, all at once; resolves with them once all are there. */
  async prepare(count: number, to: Step | 'minted', accept?: (key: string) => Promise<boolean>): Promise<Login[]> {
    const flows = Array.from({ length: count }, () => {
      const flow = { refusals: 0, settled: false };
      return this.#mint(flow, accept).then(async (login) => {
        if (to !== 'minted') await this.#advance(login, to, flow);
        return login;
      });
    });
    return Promise.all(flows);
  }

  /** Checks every login against the ledger (after the failover, with the topology whole again). */
  async audit(): Promise<Summary> {
    const queue = [...this.logins];
    const worker = async (): Promise<void> => {
      for (let login = queue.shift(); login !== undefined; login = queue.shift()) {
        try {
          await this.#audit(login);
        } catch (err) {
          if (!(err instanceof LoginOver)) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    return this.summary();
  }

  summary(): Summary {
    // Logins, not anomalies: a login whose loss shows in its flow shows again in its audit.
    const count = (kind: AnomalyKind): number => {
      const of = this.anomalies.filter((a) => a.kind === kind);
      return new Set(of.filter((a) => a.login >= 0).map((a) => a.login)).size + of.filter((a) => a.login < 0).length;
    };
    return {
      logins: this.logins.length,
      completed: this.logins.filter((l) => l.reached === 'redeemed').length,
      lost: count('lost'),
      mintsLost: count('mint-lost'),
      handedOutTwice: count('handed-out-twice'),
      redeemedTwice: count('redeemed-twice'),
      stuck: count('stuck'),
      serverErrors: this.#serverErrors,
    };
  }

  /** The anomalies, one a line, for an assertion's message. */
  report(): string {
    return this.anomalies.map((a) => `login ${a.login}: ${a.kind}: ${a.detail}`).join('\n');
  }

  async #mint(counter: { refusals: number }, accept?: (key: string) => Promise<boolean>): Promise<Login> {
    for (;;) {
      const res = await this.#send(counter, undefined, 'public', 'POST', '/status/new');
      if (res.status !== 201) throw new Error(`POST /status/new answered ${res.status} ${errorCode(res.body)}`);
      const key = String(res.body['key']);
      if (accept !== undefined && !(await accept(key))) continue;
      const login: Login = {
        index: this.logins.length,
        key,
        pollToken: String(res.body['pollToken']),
        acked: { version: 0, status: 'pending' },
        reached: 'minted',
        handOuts: 0,
        redemptions: 0,
      };
      this.logins.push(login);
      return login;
    }
  }

  async #advance(login: Login, to: Step, counter: { refusals: number }): Promise<void> {
    for (let i = login.reached === 'minted' ? 0 : STEPS.indexOf(login.reached) + 1; i <= STEPS.indexOf(to); i++) {
      const step = STEPS[i]!;
      if (step === 'scanned' || step === 'confirmed') await this.#set(login, step, counter);
      else if (step === 'handedOut') await this.#handOut(login, counter);
      else await this.#redeem(login, counter);
      login.reached = step;
    }
  }

  async #set(login: Login, status: 'scanned' | 'confirmed', counter: { refusals: number }): Promise<void> {
    const started = performance.now();
    const res = await this.#send(counter, login, 'private', 'POST', '/status/set', { key: login.key, status, actor: this.#actor });
    this.setTimes.push(performance.now() - started);
    if (res.status === 200) {
      login.acked = { version: Number(res.body['version']), status };
      return;
    }
    if (res.status === 404) this.#over(login, gone(login), `the set of ${status} found no session after v${login.acked.version} ${login.acked.status} was acknowledged`);
    if (res.status === 409) {
      const now = await this.#peek(login, counter);
      // An earlier attempt that got no 200 may have made the change: then this one is done.
      if (res.retried && now?.status === status && now.version >= login.acked.version) return;
      this.#over(login, 'lost', `${status} refused (${errorCode(res.body)}) after v${login.acked.version} ${login.acked.status} was acknowledged; the store has ${describe(now)}`);
    }
    throw new Error(`POST /status/set answered ${res.status} ${errorCode(res.body)}`);
  }

  async #handOut(login: Login, counter: { refusals: number }): Promise<void> {
    let since = login.acked.version - 1;
    for (;;) {
      const res = await this.#send(counter, login, 'public', 'GET', `/status/get?key=${login.key}&since=${since}&wait=${this.#pollWaitMs}`, undefined, login.pollToken);
      if (res.status === 200) {
        const version = Number(res.body['version']);
        if (res.body['status'] === 'confirmed' && typeof res.body['ticket'] === 'string') {
          login.ticket = res.body['ticket'];
          login.handOuts++;
          return;
        }
        if (version < login.acked.version) this.#over(login, 'lost', `a poll answered v${version} ${String(res.body['status'])} after v${login.acked.version} ${login.acked.status} was acknowledged`);
        since = version;
      } else if (res.status === 204) {
        const now = await this.#peek(login, counter);
        if (now === undefined || now.version < login.acked.version) {
          this.#over(login, 'lost', `v${login.acked.version} ${login.acked.status} was acknowledged; the store has ${describe(now)}`);
        }
      } else if (res.status === 404) {
        this.#over(login, 'lost', `a poll found no session after v${login.acked.version} ${login.acked.status} was acknowledged`);
      } else if (res.status === 410) {
        this.#over(login, 'stuck', '`confirmed` was handed to an answer that never arrived');
      } else {
        throw new Error(`GET /status/get answered ${res.status} ${errorCode(res.body)}`);
      }
      if (Date.now() > this.deadline) this.#over(login, 'stuck', `no hand-out before the deadline (${describe(await this.#peek(login, counter))})`);
    }
  }

  async #redeem(login: Login, counter: { refusals: number }): Promise<void> {
    const res = await this.#send(counter, login, 'private', 'POST', '/ticket/redeem', { ticket: login.ticket });
    if (res.status === 200) {
      login.redemptions++;
      return;
    }
    // An earlier attempt may have redeemed it, but only a 200 carries who signs in: the site
    // cannot finish this login.
    if (res.status === 410 && res.retried) this.#over(login, 'stuck', 'a retried redemption answered 410: the login never had its 200');
    if (res.status === 404) this.#over(login, 'lost', 'the ticket of an acknowledged hand-out is unknown');
    throw new Error(`POST /ticket/redeem answered ${res.status} ${errorCode(res.body)}`);
  }

  async #audit(login: Login): Promise<void> {
    const counter = { refusals: 0 };
    const now = await this.#peek(login, counter);
    if (now === undefined) this.#over(login, gone(login), `the session is gone; v${login.acked.version} ${login.acked.status} was acknowledged`);
    if (now.version < login.acked.version || (login.acked.status === 'confirmed' && now.status !== 'confirmed')) {
      this.#over(login, 'lost', `v${login.acked.version} ${login.acked.status} was acknowledged; the store has ${describe(now)}`);
    }
    if (login.ticket !== undefined) {
      const again = await this.#send(counter, login, 'private', 'POST', '/ticket/redeem', { ticket: login.ticket });
      if (login.redemptions > 0 && again.status === 200) this.#record(login, 'redeemed-twice', 'a redeemed ticket redeemed again');
      else if (again.status === 404) this.#record(login, 'lost', `the ticket of an acknowledged ${login.redemptions > 0 ? 'redemption' : 'hand-out'} is unknown`);
      else if (again.status === 200) login.reached = 'redeemed'; // the flow gave up just before redeeming
      else if (again.status !== 410) throw new Error(`POST /ticket/redeem answered ${again.status} ${errorCode(again.body)}`);
    }
    if (login.handOuts > 0) {
      const poll = await this.#send(counter, login, 'public', 'GET', `/status/get?key=${login.key}&since=${login.acked.version - 1}&wait=0`, undefined, login.pollToken);
      if (poll.status === 200 && typeof poll.body['ticket'] === 'string') this.#record(login, 'handed-out-twice', '`confirmed` handed out again with a new ticket');
      else if (poll.status !== 410) this.#record(login, 'lost', `a poll after the hand-out answered ${poll.status} ${errorCode(poll.body)} rather than 410`);
    }
  }

  async #peek(login: Login, counter: { refusals: number }): Promise<Peeked | undefined> {
    const res = await this.#send(counter, login, 'private', 'GET', `/status/peek?key=${login.key}`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`GET /status/peek answered ${res.status} ${errorCode(res.body)}`);
    return { status: String(res.body['status']), version: Number(res.body['version']), delivered: res.body['delivered'] === true };
  }

  /** Records an anomaly of `login` (-1: a login whose mint never got through). */
  #record(login: Login | undefined, kind: AnomalyKind, detail: string): void {
    this.anomalies.push({ login: login?.index ?? -1, kind, detail });
  }

  #over(login: Login | undefined, kind: AnomalyKind, detail: string): never {
    this.#record(login, kind, detail);
    throw new LoginOver(detail);
  }

  /** One request, to the next node, again after each 5xx (its Retry-After) or missing answer. */
  async #send(
    counter: { refusals: number },
    login: Login | undefined,
    listener: 'public' | 'private',
    method: 'GET' | 'POST',
    path: string,
    body?: object,
    pollToken?: string,
  ): Promise<Answer> {
    let retried = false;
    for (;;) {
      if (Date.now() > this.deadline) {
        this.#over(login, 'stuck', `${method} ${path.split('?')[0]} refused until the deadline (last step reached: ${login?.reached ?? 'none'})`);
      }
      const node = this.#nodes[this.#next++ % this.#nodes.length]!;
      const headers: Record<string, string> = { authorization: `Bearer ${listener === 'private' ? this.#token : (pollToken ?? '')}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      let res: Response;
      try {
        res = await fetch(`${listener === 'private' ? node.privateUrl : node.publicUrl}${path}`, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.#requestTimeoutMs),
        });
      } catch {
        counter.refusals++;
        retried = true;
        await sleep(NO_ANSWER_RETRY_MS);
        continue;
      }
      const text = await res.text();
      const parsed: unknown = text === '' ? {} : JSON.parse(text);
      if (res.status >= 500) {
        if (res.status !== 503) this.#serverErrors++;
        counter.refusals++;
        retried = true;
        await sleep(Math.min(Number(res.headers.get('retry-after') ?? '1') * 1_000 || 1_000, 5_000));
        continue;
      }
      return { status: res.status, body: parsed as Record<string, unknown>, retried };
    }
  }
}

/** What a login's missing session means: a lost change, or only a lost mint. */
const gone = (login: Login): AnomalyKind => (login.acked.version === 0 ? 'mint-lost' : 'lost');

const describe = (state: Peeked | undefined): string => (state === undefined ? 'no session' : `v${state.version} ${state.status}${state.delivered ? ' (handed out)' : ''}`);
