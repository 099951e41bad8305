import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMemoryStore } from './stores.js';
import { Receiver } from './scripted-receiver.js';
import { putJson, type SubscriptionServer, startSubscriptionServer } from './subscription-server.js';

/** A request sent as written: fetch() would resolve `%2E` segments and refuse a forged Host. */
function raw(
  origin: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; text: string }> {
  const { port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Edges a newcomer found: whose origin deliveries name, ids a URL cannot carry, odd limits. */
describe('subscription edges', () => {
  let s: SubscriptionServer;
  let receiver: Receiver;
  beforeAll(async () => {
    s = await startSubscriptionServer(await openMemoryStore());
    receiver = await Receiver.start([{ status: 200, body: { done: true } }]);
  });
  afterAll(async () => {
    await receiver.close();
    await s.close();
  });

  it("an appender's Host header never becomes the callback_url a receiver gets", async () => {
    const created = await fetch(
      s.url('__ds/subscriptions/host-check'),
      putJson({ type: 'webhook', pattern: 'hosts/*', webhook: { url: receiver.url } }),
    );
    expect(created.status).toBe(201);
    const { status } = await raw(s.origin, 'PUT', '/s/hosts/a', { host: 'attacker.example', 'content-type': 'text/plain' }, 'x');
    expect(status).toBe(201);
    await receiver.until(() => receiver.deliveries.length >= 1);
    const body = receiver.deliveries[0]!.body;
    expect(body.callback_url).toBe(`${s.origin}/s/__ds/subscriptions/host-check/callback`);
  });

  it('refuses the ids . and .. (a callback URL would resolve them as dot segments)', async () => {
    const body = JSON.stringify({ type: 'pull-wake', pattern: 'x/*', wake_stream: 'w' });
    for (const id of ['%2E', '%2E%2E', '.%2E']) {
      const res = await raw(s.origin, 'PUT', `/s/__ds/subscriptions/${id}`, { 'content-type': 'application/json' }, body);
      expect(res.status, id).toBe(400);
      expect((JSON.parse(res.text) as { error: { code: string } }).error.code).toBe('INVALID_REQUEST');
    }
  });

  it('answers a 600-byte id with 400 INVALID_REQUEST, and an overlong bearer token with 401 TOKEN_INVALID', async () => {
    const long = await fetch(
      s.url(`__ds/subscriptions/${'a'.repeat(600)}`),
      putJson({ type: 'pull-wake', pattern: 'x/*', wake_stream: 'w' }),
    );
    expect(long.status).toBe(400);
    expect(((await long.json()) as { error: { code: string } }).error.code).toBe('INVALID_REQUEST');
    const ack = await fetch(s.url('__ds/subscriptions/host-check/callback'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${'t'.repeat(6000)}` },
      body: JSON.stringify({ wake_id: 'w_x', generation: 1, acks: [], done: true }),
    });
    expect(ack.status).toBe(401);
    expect(((await ack.json()) as { error: { code: string } }).error.code).toBe('TOKEN_INVALID');
  });

  it('refuses a wake stream under the reserved __ds/ prefix', async () => {
    const res = await fetch(
      s.url('__ds/subscriptions/reserved-wake'),
      putJson({ type: 'pull-wake', pattern: 'x/*', wake_stream: '__ds/x' }),
    );
    expect(res.status).toBe(400);
  });
});
