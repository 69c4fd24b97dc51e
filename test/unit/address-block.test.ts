import { describe, expect, it } from 'vitest';
import { addressBlock } from '../../src/limits/address-block.js';

describe('the address block per-IP limits count in', () => {
  it('is an IPv4 address itself', () => {
    expect(addressBlock('203.0.113.7')).toBe('203.0.113.7');
  });

  it('is the /64 of an IPv6 address, however it is written', () => {
    const block = '2001:db8:aa:bb::/64';
    expect(addressBlock('2001:db8:aa:bb::1')).toBe(block);
    expect(addressBlock('2001:0db8:00aa:00bb:ffff:1:2:3')).toBe(block);
    expect(addressBlock('2001:DB8:AA:BB:0:0:0:9')).toBe(block);
    expect(addressBlock('2001:db8:aa:bc::1')).not.toBe(block);
  });

  it('is the IPv4 address of an IPv4-mapped IPv6 address', () => {
    expect(addressBlock('::ffff:198.51.100.4')).toBe('198.51.100.4');
  });

  it('leaves anything unparsable as it is', () => {
    expect(addressBlock('')).toBe('');
    expect(addressBlock('not:an:address')).toBe('not:an:address');
  });
});
