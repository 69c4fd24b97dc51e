// Any web page can make its visitors' browsers POST /status/new (a CORS "simple" request) and use
// up their address's session quota; only the service's own pages and CORS_ORIGINS may.
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { mint, startNode } from '../support/node.js';

describe('minting from another site', () => {
  it('POST /status/new refuses another site with 403 cross_site, and does not count it against the address', async () => {
    const node = await startNode({ RATE_SESSIONS_PER_IP: '3' });
    const own = new URL(node.publicUrl).origin; // supertest sends Host: 127.0.0.1:<port>
    for (const headers of [
      { 'Sec-Fetch-Site': 'cross-site' },
      { Origin: 'https://evil.example' },
      { Origin: 'null' },
      { Origin: 'https://evil.example', 'Sec-Fetch-Site': 'same-origin' },
      { Origin: own.replace('127.0.0.1', 'localhost') },
    ]) {
      const res = await request(node.publicUrl).post('/status/new').set(headers).expect(403);
      expect(res.body.error.code).toBe('cross_site');
    }
    await mint(node, { Origin: own, 'Sec-Fetch-Site': 'same-origin' });
    await mint(node, { 'Sec-Fetch-Site': 'none' });
    await mint(node); // no Origin: not a browser's cross-site request
    await request(node.publicUrl).post('/status/new').expect(429);
  });

  it('the service behind a proxy: an Origin naming the forwarded host is its own', async () => {
    const node = await startNode();
    await mint(node, { Origin: 'https://login.example', 'X-Forwarded-Host': 'login.example' });
    await request(node.publicUrl).post('/status/new').set({ Origin: 'https://login.example', 'X-Forwarded-Host': 'other.example' }).expect(403);
  });

  it('an origin listed in CORS_ORIGINS may mint, cross-site included', async () => {
    const node = await startNode({ CORS_ORIGINS: 'https://app.example' });
    const res = await request(node.publicUrl).post('/status/new').set({ Origin: 'https://app.example', 'Sec-Fetch-Site': 'cross-site' }).expect(201);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    const other = await request(node.publicUrl).post('/status/new').set({ Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site' }).expect(403);
    expect(other.body.error.code).toBe('cross_site');
  });
});
