// The client's address, honouring TRUST_PROXY the way express's 'trust proxy' setting does
// (proxy-addr: X-Forwarded-For is believed only from trusted hops).
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import proxyaddr from 'proxy-addr';
import type { TrustProxy } from '../config.js';

export function clientAddress(trust: TrustProxy): (req: IncomingMessage) => string {
  // No hop trusted: proxy-addr would parse X-Forwarded-For only to answer the socket's address.
  if (trust === false) return (req) => req.socket.remoteAddress ?? '';
  const trusted: (addr: string, i: number) => boolean =
    trust === true ? () => true : typeof trust === 'number' ? (_addr, i) => i < trust : proxyaddr.compile(trust);
  // A trusted X-Forwarded-For hop can still carry anything: keep only a well-formed address.
  return (req) => {
    const address = proxyaddr(req, trusted);
    return isIP(address) !== 0 ? address : (req.socket.remoteAddress ?? '');
  };
}
