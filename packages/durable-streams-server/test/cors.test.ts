// CORS for a browser on another origin: the request id the server sends back is readable
// (Access-Control-Expose-Headers), and a page may send its own (Access-Control-Allow-Headers
// of the preflight), so a browser's logs and the server's meet on one id.
import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';

const listOf = (value: string | null): string[] => (value ?? '').split(',').map((h) => h.trim().toLowerCase());

describe('CORS and X-Request-Id', () => {
  const store = new MemoryStreamStore();
  let server: StreamsServer;
  let base = '';
  beforeAll(async () => {
    server = createStreamsServer({ store });
    base = await server.listen(0);
  });
  afterAll(async () => {
    await server.close();
    await store.close();
  });

  it('exposes X-Request-Id on a response, with the protocol headers', async () => {
    const created = await fetch(`${base}/cors-a`, { method: 'PUT', headers: { 'Content-Type': 'text/plain', Origin: 'https://app.test' } });
    expect(created.status).toBe(201);
    expect(created.headers.get('access-control-allow-origin')).toBe('*');
    const exposed = listOf(created.headers.get('access-control-expose-headers'));
    expect(exposed).toEqual(expect.arrayContaining(['x-request-id', 'stream-next-offset', 'etag']));
    expect(created.headers.get('x-request-id')).not.toBeNull();
  });

  it('a preflight allows X-Request-Id as a request header, and the id sent is echoed', async () => {
    const preflight = await fetch(`${base}/cors-b`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://app.test',
        'Access-Control-Request-Method': 'PUT',
        'Access-Control-Request-Headers': 'content-type,x-request-id',
      },
    });
    expect(preflight.status).toBe(204);
    expect(listOf(preflight.headers.get('access-control-allow-headers'))).toEqual(expect.arrayContaining(['x-request-id', 'content-type']));
    const created = await fetch(`${base}/cors-b`, {
      method: 'PUT',
      headers: { 'Content-Type': 'text/plain', Origin: 'https://app.test', 'X-Request-Id': 'page-7' },
    });
    expect(created.headers.get('x-request-id')).toBe('page-7');
  });

  it('sends none of it with corsOrigin: false', async () => {
    const off = createStreamsServer({ store, corsOrigin: false });
    const url = await off.listen(0);
    try {
      const r = await fetch(`${url}/cors-a`, { method: 'HEAD', headers: { Origin: 'https://app.test' } });
      expect(r.headers.get('access-control-expose-headers')).toBeNull();
      expect(r.headers.get('x-request-id')).not.toBeNull();
    } finally {
      await off.close();
    }
  });
});
