// A minimal HTTP/1.1 client connection for the load generator: one TCP socket, one request at a
// time, keep-alive, Content-Length or chunked bodies. It exists because the bench holds 10,000+
// polls and needs each one on a socket it owns (source address chosen per socket) at a per-request
// cost well below node:http's, so the client is not what gets measured.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * @typedef {{ status: number, body: string, at: number }} MiniResponse
 *   `at` is performance.now() when the last byte of the response arrived.
 * @typedef {{ host: string, port: number }} Target
 */

const CRLF2 = Buffer.from('\r\n\r\n');

export class MiniConn {
  /** @type {net.Socket} */ socket;
  /** @type {Buffer | null} */ #buf = null;
  /** @type {{ resolve: (r: MiniResponse) => void, reject: (e: Error) => void, noBody: boolean } | null} */ #pending = null;
  /** @type {{ status: number, length: number, chunked: boolean, close: boolean } | null} */ #head = null;
  dead = false;
  /** True when the server asked to close after the current response. */
  #closeAfter = false;

  /**
   * @param {Target} target
   * @param {string | undefined} localAddress source address, e.g. 127.0.0.5
   */
  constructor(target, localAddress) {
    this.target = target;
    this.hostHeader = `${target.host}:${target.port}`;
    /** @type {net.NetConnectOpts} */
    const opts = { host: target.host, port: target.port, noDelay: true };
    if (localAddress) opts.localAddress = localAddress;
    this.socket = net.connect(opts);
    /** Resolves true once connected, false if the socket fails or 10 s pass first. */
    this.connected = new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      this.socket.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    this.socket.on('data', (d) => this.#onData(d));
    // No TCP keepalive: every request has its own timeout. With keepalive on, tens of thousands of
    // polls that went idle together probe together (libuv: every second, 10 tries) and overflow the
    // kernel's loopback backlog (net.core.netdev_max_backlog, 1,000); the dropped probes then abort
    // sockets with ETIMEDOUT. That was the 45,000-poll run's 4,739 errors with a 55 s hold.
    this.socket.on('error', (e) => this.#fail(e));
    this.socket.on('close', () => this.#fail(new Error('socket closed')));
  }

  get busy() {
    return this.#pending !== null;
  }

  /**
   * Sends one request; resolves with the response, rejects when the socket fails first.
   * @param {string} method
   * @param {string} path
   * @param {string} extraHeaders raw header lines, each ending in \r\n
   * @param {string} [body]
   * @param {number} [timeoutMs]
   * @returns {Promise<MiniResponse>}
   */
  request(method, path, extraHeaders, body, timeoutMs = 30_000) {
    if (this.dead) return Promise.reject(new Error('connection is dead'));
    if (this.#pending) return Promise.reject(new Error('connection is busy'));
    return new Promise((resolve, reject) => {
      // Every request is bounded: past timeoutMs the connection is destroyed and the request fails.
      const timer = setTimeout(() => this.#timeout(), timeoutMs);
      this.#pending = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
        noBody: method === 'HEAD',
      };
      let head = `${method} ${path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n${extraHeaders}`;
      if (body !== undefined) head += `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      else head += method === 'POST' ? 'Content-Length: 0\r\n\r\n' : '\r\n';
      this.socket.write(head);
    });
  }

  #timeout() {
    this.socket.destroy();
    this.#fail(new Error('request timed out'));
  }

  destroy() {
    this.dead = true;
    this.socket.destroy();
    this.#fail(new Error('destroyed'));
  }

  /** @param {Error} err */
  #fail(err) {
    this.dead = true;
    const p = this.#pending;
    this.#pending = null;
    if (p) p.reject(err);
  }

  /** @param {Buffer} data */
  #onData(data) {
    this.#buf = this.#buf === null ? data : Buffer.concat([this.#buf, data]);
    // Bounded: each pass either consumes one response or returns for more bytes.
    for (let guard = 0; guard < 64 && this.#buf !== null && this.#buf.length > 0; guard++) {
      if (!this.#parseOne()) return;
    }
  }

  /** @returns {boolean} whether a whole response was consumed */
  #parseOne() {
    const buf = /** @type {Buffer} */ (this.#buf);
    if (this.#head === null) {
      const end = buf.indexOf(CRLF2);
      if (end < 0) {
        if (buf.length > 65536) this.#protocolError('response head too large');
        return false;
      }
      const text = buf.toString('latin1', 0, end);
      const status = Number(text.slice(9, 12));
      let length = 0;
      let chunked = false;
      let close = false;
      const lines = text.split('\r\n');
      for (let i = 1; i < lines.length; i++) {
        const line = /** @type {string} */ (lines[i]);
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim().toLowerCase();
        if (name === 'content-length') length = Number(value);
        else if (name === 'transfer-encoding') chunked = value.includes('chunked');
        else if (name === 'connection') close = value === 'close';
      }
      if (status === 204 || status === 304 || this.#pending?.noBody) {
        length = 0;
        chunked = false;
      }
      this.#head = { status, length, chunked, close };
      this.#buf = buf.subarray(end + 4);
    }
    const head = this.#head;
    const rest = /** @type {Buffer} */ (this.#buf);
    let body;
    if (head.chunked) {
      const decoded = decodeChunked(rest);
      if (decoded === null) return false;
      body = decoded.body;
      this.#buf = rest.subarray(decoded.consumed);
    } else {
      if (rest.length < head.length) return false;
      body = rest.toString('utf8', 0, head.length);
      this.#buf = rest.subarray(head.length);
    }
    if (this.#buf.length === 0) this.#buf = null;
    this.#head = null;
    const p = this.#pending;
    this.#pending = null;
    if (head.close) {
      this.dead = true;
      this.socket.end();
    }
    if (p) p.resolve({ status: head.status, body, at: performance.now() });
    return true;
  }

  /** @param {string} why */
  #protocolError(why) {
    this.socket.destroy();
    this.#fail(new Error(why));
  }
}

/**
 * @param {Buffer} buf bytes after the response head
 * @returns {{ body: string, consumed: number } | null} null when more bytes are needed
 */
function decodeChunked(buf) {
  /** @type {Buffer[]} */
  const parts = [];
  let pos = 0;
  for (let guard = 0; guard < 10_000; guard++) {
    const lineEnd = buf.indexOf('\r\n', pos);
    if (lineEnd < 0) return null;
    const size = parseInt(buf.toString('latin1', pos, lineEnd), 16);
    if (Number.isNaN(size)) throw new Error('bad chunk size');
    const dataStart = lineEnd + 2;
    if (size === 0) {
      // Last chunk; no trailers expected: needs the final CRLF.
      if (buf.length < dataStart + 2) return null;
      return { body: Buffer.concat(parts).toString('utf8'), consumed: dataStart + 2 };
    }
    if (buf.length < dataStart + size + 2) return null;
    parts.push(buf.subarray(dataStart, dataStart + size));
    pos = dataStart + size + 2;
  }
  throw new Error('too many chunks');
}

/**
 * Parses http://host:port into a Target.
 * @param {string} url
 * @returns {Target}
 */
export function targetOf(url) {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new Error(`only http:// targets are supported: ${url}`);
  return { host: u.hostname, port: Number(u.port || 80) };
}
