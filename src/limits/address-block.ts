// The unit the per-IP limits count in.
import ipaddr from 'ipaddr.js';

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
