// The client's address, honouring TRUST_PROXY the way express's 'trust proxy' setting does
// (proxy-addr: X-Forwarded-For is believed only from trusted hops).
import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import type { TrustProxy } from '../config.js';

export function clientAddress(trust: TrustProxy): (req: IncomingMessage) => string {
  const trusted: (addr: string, i: number) => boolean =
    trust === true ? () => true : trust === false ? () => false : typeof trust === 'number' ? (_addr, i) => i < trust : proxyaddr.compile(trust);
  return (req) => proxyaddr(req, trusted);
}
