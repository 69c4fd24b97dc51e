// The client's address, honouring TRUST_PROXY the way express's 'trust proxy' setting does
// (proxy-addr: X-Forwarded-For is believed only from trusted hops), and the address block the
// per-IP limits count it in.
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import proxyaddr from 'proxy-addr';
import type { TrustProxy } from '../config.js';

export function clientAddress(trust: TrustProxy): (req: IncomingMessage) => string {
  const trusted: (addr: string, i: number) => boolean =
    trust === true ? () => true : trust === false ? () => false : typeof trust === 'number' ? (_addr, i) => i < trust : proxyaddr.compile(trust);
  // A trusted X-Forwarded-For hop can still carry anything: keep only a well-formed address.
  return (req) => {
    const address = proxyaddr(req, trusted);
    return isIP(address) !== 0 ? address : (req.socket.remoteAddress ?? '');
  };
}

/**
 * The block the per-IP limits count an address in: an IPv4 address itself, an IPv6 address its
 * /64. One subscriber usually holds a whole /64, so counting single IPv6 addresses would let one
 * client step around every per-IP limit. An IPv4-mapped IPv6 address counts as its IPv4 address.
 */
export function addressBlock(address: string): string {
  if (!address.includes(':') || !ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const prefix = (parsed as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16));
  return `${prefix.join(':')}::/64`;
}
