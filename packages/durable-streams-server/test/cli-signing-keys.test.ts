import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { signingKeyRing } from '../src/signing-key-ring.js';
import { CliProcess } from './cli-process.js';
import { type Jwks, kidOf, Receiver, verifySignature } from './scripted-receiver.js';
import { eventuallyValue, getJson, putJson } from './subscription-server.js';

/**
 * The key ring of `stowage-streams` (STOWAGE_SIGNING_KEY) and --rotate-signing-key, with CLI
 * processes one after another on one SQLite file: what one start stores, the next opens.
 */
const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const newKey = () => randomBytes(32).toString('base64');
/** The id the CLI gives a ring key (see signing-key-ring.ts), computed here independently. */
const idOf = (key: string) => `env-${createHash('sha256').update(Buffer.from(key, 'base64')).digest('hex').slice(0, 12)}`;
const text = (body: string, method = 'POST'): RequestInit => ({ method, headers: { 'content-type': 'text/plain' }, body });
const outputOf = (p: CliProcess) =>
  eventuallyValue(
    async () => p.output.join(''),
    () => true,
  );

describe('STOWAGE_SIGNING_KEY, a key ring', () => {
  it('is comma-separated keys, the first seals, each named by its SHA-256 alone', () => {
    const [a, b] = [newKey(), newKey()];
    const ring = signingKeyRing(` ${b} ,${a}`);
    expect(ring.map((k) => k.id)).toEqual([idOf(b), idOf(a)]);
    expect(ring.map((k) => Buffer.from(k.key as Buffer).toString('base64'))).toEqual([b, a]);
    // Another replica, the same key in base64url: the same id.
    expect(signingKeyRing(Buffer.from(a, 'base64').toString('base64url'))[0]!.id).toBe(idOf(a));
    expect(() => signingKeyRing(`${a},`)).toThrow('STOWAGE_SIGNING_KEY has an empty entry (key 2 of 2)');
    expect(() => signingKeyRing(`${a},${randomBytes(31).toString('base64')}`)).toThrow(
      'STOWAGE_SIGNING_KEY must be 32 bytes in base64 (44 characters), got 31 bytes (key 2 of 2)',
    );
    expect(() => signingKeyRing(`${a},${b},${a}`)).toThrow('STOWAGE_SIGNING_KEY lists the same key twice (keys 1 and 3)');
  });

  it('--rotate-signing-key needs --webhooks', () => {
    const r = spawnSync(process.execPath, [CLI, '--store', 'memory', '--port', '0', '--rotate-signing-key'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--rotate-signing-key needs --webhooks');
  });
});

describe('the stowage-streams CLI signing keys across restarts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-cli-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A CLI with webhooks on `file`, the ring `keys`, and `extra` flags. */
  const start = (file: string, keys: string[], extra: string[] = []) =>
    new CliProcess(['--store', `sqlite:${file}`, '--webhooks', '--allow-webhook-host', '127.0.0.1', ...extra], {
      STOWAGE_SIGNING_KEY: keys.join(','),
    });

  /** Creates subscription `id` on `ev/*` for `receiver`; resolves to the key id it names. */
  async function subscribe(url: string, receiver: Receiver): Promise<string> {
    const res = await fetch(
      `${url}/__ds/subscriptions/keys`,
      putJson({ type: 'webhook', pattern: 'ev/*', webhook: { url: receiver.url } }),
    );
    expect(res.status).toBe(201);
    return ((await res.json()) as { webhook: { signing: { kid: string } } }).webhook.signing.kid;
  }

  it('a ring of two opens a key sealed with the second, and re-seals it with the first', async () => {
    const file = join(dir, 'two.db');
    const [older, newer] = [newKey(), newKey()];
    const receiver = await Receiver.start([{ status: 200, body: { done: true } }]);
    try {
      const first = start(file, [older]);
      const kid = await subscribe(await first.url, receiver);
      expect((await fetch(`${await first.url}/ev/1`, text('a', 'PUT'))).status).toBe(201);
      await receiver.until(() => receiver.deliveries.length === 1);
      expect(await first.stop()).toBe(0);

      // The new key first, the old one second: the stored key opens with the second and is re-sealed with the first.
      const second = start(file, [newer, older]);
      const url = await second.url;
      await eventuallyValue(
        () => outputOf(second),
        (out) => out.includes(`Signing key ${kid}: re-sealed with ring key ${idOf(newer)} (was ${idOf(older)})"`),
      );
      expect((await fetch(`${url}/ev/1`, text('b'))).status).toBe(204);
      await receiver.until(() => receiver.deliveries.length === 2);
      expect(await second.stop()).toBe(0);
      expect(second.output.join('')).not.toContain('cannot be opened');

      // The old key left the ring: the key still opens, and no start re-seals it again.
      const third = start(file, [newer]);
      const again = await third.url;
      expect((await fetch(`${again}/ev/1`, text('c'))).status).toBe(204);
      await receiver.until(() => receiver.deliveries.length === 3);
      const jwks = (await getJson(`${again}/__ds/jwks.json`)) as Jwks;
      expect(jwks.keys.map((k) => k.kid)).toEqual([kid]);
      for (const d of receiver.deliveries) {
        expect(kidOf(d.signature)).toBe(kid);
        expect(verifySignature(d.raw, d.signature, jwks)).toBe(true);
      }
      expect(await third.stop()).toBe(0);
      expect(third.output.join('')).not.toMatch(/re-sealed|cannot be opened/);
    } finally {
      await receiver.close();
    }
  }, 60_000);

  it('a ring without the sealing key says which key and what to do; --rotate-signing-key recovers', async () => {
    const file = join(dir, 'lost.db');
    const [lost, fresh] = [newKey(), newKey()];
    const receiver = await Receiver.start([{ status: 200, body: { done: true } }]);
    try {
      const first = start(file, [lost]);
      const kid1 = await subscribe(await first.url, receiver);
      expect((await fetch(`${await first.url}/ev/1`, text('a', 'PUT'))).status).toBe(201);
      await receiver.until(() => receiver.deliveries.length === 1);
      expect(await first.stop()).toBe(0);

      // A new ring: the stored key cannot be opened. Said at start, and by each delivery, which fails.
      const problem =
        `signing key ${kid1} cannot be opened: it was sealed with ring key ${idOf(lost)}, not in this server's ring (${idOf(fresh)}). ` +
        'Fix: add that key to the ring after the first (STOWAGE_SIGNING_KEY=<new>,<old>, or subscriptions.signingKeys); ' +
        'if it is lost, start one replica once with --rotate-signing-key (or call rotateSigningKey()) to sign with a new key';
      const second = start(file, [fresh]);
      const url = await second.url;
      expect((await fetch(`${url}/ev/1`, text('b'))).status).toBe(204);
      await eventuallyValue(
        () => outputOf(second),
        (o) => o.includes('"operation":"signingKeys"') && o.includes(': no signing key: '),
      );
      const logged = second.logLines();
      expect(logged.filter((l) => l['operation'] === 'signingKeys').map((l) => [l['level'], l['msg']])).toEqual([
        ['warn', `@stowage/durable-streams-server StreamsServer: ${problem}`],
      ]);
      const webhook = logged.filter((l) => l['operation'] === 'webhook');
      expect(webhook.length).toBeGreaterThan(0);
      expect(webhook[0]!['msg']).toMatch(
        new RegExp(
          `^background webhook failed: subscriptions: webhook "keys" wake w_\\S+ generation 2 to http://127\\.0\\.0\\.1:\\d+: ` +
            `no signing key: @stowage/durable-streams-server StreamsServer: ${problem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`,
        ),
      );
      expect(await second.stop()).toBe(0);
      expect(receiver.deliveries).toHaveLength(1);

      // One start with --rotate-signing-key: a new key signs; the wake that failed is retried and verifies.
      const third = start(file, [fresh], ['--rotate-signing-key']);
      const again = await third.url;
      const kid2 = /Signing key rotated: (ds_\S+) signs from now on/.exec(third.output.join(''))?.[1];
      expect(kid2).toMatch(/^ds_/);
      expect(kid2).not.toBe(kid1);
      await receiver.until(() => receiver.deliveries.length === 2, 30_000);
      expect(receiver.deliveries[1]!.body.generation).toBe(2);
      expect((await fetch(`${again}/ev/1`, text('c'))).status).toBe(204);
      await receiver.until(() => receiver.deliveries.length === 3);
      const jwks = (await getJson(`${again}/__ds/jwks.json`)) as Jwks;
      // The replaced key stays published: the delivery it signed still verifies.
      expect(jwks.keys.map((k) => k.kid)).toEqual([kid2, kid1]);
      expect(receiver.deliveries.map((d) => kidOf(d.signature))).toEqual([kid1, kid2, kid2]);
      for (const d of receiver.deliveries) expect(verifySignature(d.raw, d.signature, jwks)).toBe(true);
      expect((await getJson(`${again}/__ds/subscriptions/keys`)).webhook.signing.kid).toBe(kid2);
      expect(await third.stop()).toBe(0);
      expect(third.output.join('')).not.toContain('cannot be opened');

      // Without the flag again: the new key is the one kept, no rotation, no warning.
      const fourth = start(file, [fresh]);
      expect((await fetch(`${await fourth.url}/ev/1`, text('d'))).status).toBe(204);
      await receiver.until(() => receiver.deliveries.length === 4);
      expect(kidOf(receiver.deliveries[3]!.signature)).toBe(kid2);
      expect(await fourth.stop()).toBe(0);
      expect(fourth.output.join('')).not.toMatch(/rotated|cannot be opened/);
    } finally {
      await receiver.close();
    }
  }, 90_000);
});
