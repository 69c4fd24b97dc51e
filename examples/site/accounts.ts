// The site's own users and sign-in sessions, nothing to do with qrelay: two demo users with
// scrypt-hashed passwords, and sessions kept in memory under a random id that only the browser's
// HttpOnly cookie carries. A real site has its own of both.
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

export interface User {
  readonly id: string;
  readonly name: string;
}

interface Account extends User {
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Every demo user's password. */
export const DEMO_PASSWORD = 'demo';
const SESSION_TTL_MS = 8 * 3_600_000;

const hash = (password: string, salt: Buffer): Buffer => scryptSync(password, salt, 32);

function account(id: string, name: string): Account {
  const salt = randomBytes(16);
  return { id, name, salt, hash: hash(DEMO_PASSWORD, salt) };
}

const NOBODY = account('', '');

export class Accounts {
  readonly #users = new Map<string, Account>([account('ann', 'Ann'), account('bob', 'Bob')].map((a) => [a.id, a]));
  readonly #sessions = new Map<string, { userId: string; expiresAt: number }>();

  user(id: string): User | undefined {
    const a = this.#users.get(id);
    return a === undefined ? undefined : { id: a.id, name: a.name };
  }

  /** The user when `password` is theirs. */
  checkPassword(id: string, password: string): User | undefined {
    // An unknown name costs the same hash as a known one, so timing does not tell them apart.
    const a = this.#users.get(id) ?? NOBODY;
    return timingSafeEqual(hash(password, a.salt), a.hash) && a !== NOBODY ? this.user(id) : undefined;
  }

  /** Starts a session for `user`; returns its id (the cookie's value). */
  signIn(user: User): string {
    const sid = randomBytes(32).toString('base64url');
    this.#sessions.set(sid, { userId: user.id, expiresAt: Date.now() + SESSION_TTL_MS });
    return sid;
  }

  signOut(sid: string): void {
    this.#sessions.delete(sid);
  }

  /** The user signed in under `sid`, if that session is still valid. */
  session(sid: string | undefined): User | undefined {
    if (sid === undefined) return undefined;
    const s = this.#sessions.get(sid);
    if (s === undefined) return undefined;
    if (s.expiresAt <= Date.now()) {
      this.#sessions.delete(sid);
      return undefined;
    }
    return this.user(s.userId);
  }
}
