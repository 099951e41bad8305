import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliProcess } from './cli-process.js';
import { type Jwks, kidOf, Receiver, verifySignature } from './scripted-receiver.js';
import { eventuallyValue, getJson, putJson } from './subscription-server.js';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;

const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [CLI, '--port', '0', ...args], {
    encoding: 'utf8',
    env: { ...process.env, STOWAGE_SIGNING_KEY: '', ...env },
  });

describe('the stowage-streams CLI with subscriptions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-cli-subs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('documents the flags, and refuses webhooks without a 32-byte STOWAGE_SIGNING_KEY', () => {
    const help = run(['--help']);
    expect(help.stdout).toMatch(/--subscriptions[\s\S]*--webhooks[\s\S]*--allow-webhook-host HOST[\s\S]*STOWAGE_SIGNING_KEY/);
    const none = run(['--store', 'memory', '--webhooks']);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('--webhooks needs STOWAGE_SIGNING_KEY');
    const short = run(['--store', 'memory', '--webhooks'], { STOWAGE_SIGNING_KEY: randomBytes(16).toString('base64') });
    expect(short.status).toBe(2);
    expect(short.stderr).toContain('STOWAGE_SIGNING_KEY must be 32 bytes in base64 (44 characters), got 16 bytes');
    const notBase64 = run(['--store', 'memory', '--webhooks'], { STOWAGE_SIGNING_KEY: 'not base64!' });
    expect(notBase64.stderr).toContain('got no base64');
    const alone = run(['--store', 'memory', '--allow-webhook-host', '127.0.0.1']);
    expect(alone.status).toBe(2);
    expect(alone.stderr).toContain('--allow-webhook-host needs --webhooks or --subscriptions');
  });

  it('--subscriptions serves pull-wake only; without it __ds/... answers 404', async () => {
    const on = new CliProcess(['--store', 'memory', '--subscriptions', '--quiet']);
    try {
      const url = await on.url;
      expect((await fetch(`${url}/__ds/subscriptions/p`, putJson({ type: 'pull-wake', pattern: 'a/*', wake_stream: 'w' }))).status).toBe(
        201,
      );
      const hook = await fetch(
        `${url}/__ds/subscriptions/h`,
        putJson({ type: 'webhook', pattern: 'a/*', webhook: { url: 'http://127.0.0.1:1/' } }),
      );
      expect(hook.status).toBe(400);
      expect(((await hook.json()) as { error: { message: string } }).error.message).toBe('webhook subscriptions are not enabled');
    } finally {
      expect(await on.stop()).toBe(0);
    }
    const off = new CliProcess(['--store', 'memory', '--quiet']);
    try {
      const url = await off.url;
      expect((await fetch(`${url}/__ds/subscriptions/p`, { method: 'PUT', headers: { 'content-type': 'text/plain' } })).status).toBe(404);
    } finally {
      expect(await off.stop()).toBe(0);
    }
  });

  it('--webhooks delivers signed wakes; the signing key survives a restart with the same STOWAGE_SIGNING_KEY', async () => {
    const file = join(dir, 'streams.db');
    const key = randomBytes(32).toString('base64');
    const receiver = await Receiver.start([{ status: 200, body: { done: true } }]);
    const args = ['--store', `sqlite:${file}`, '--webhooks', '--allow-webhook-host', '127.0.0.1'];
    try {
      const first = new CliProcess(args, { STOWAGE_SIGNING_KEY: key });
      const url = await first.url;
      const created = await fetch(
        `${url}/__ds/subscriptions/cli`,
        putJson({ type: 'webhook', pattern: 'ev/*', webhook: { url: receiver.url } }),
      );
      expect(created.status).toBe(201);
      const kid = ((await created.json()) as { webhook: { signing: { kid: string } } }).webhook.signing.kid;
      expect((await fetch(`${url}/ev/1`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' })).status).toBe(201);
      await receiver.until(() => receiver.deliveries.length === 1);
      expect(await first.stop()).toBe(0);

      // Same key ring: the stored signing key is opened again and still signs.
      const second = new CliProcess(args, { STOWAGE_SIGNING_KEY: key });
      const again = await second.url;
      const sub = await eventuallyValue(
        () => getJson(`${again}/__ds/subscriptions/cli`),
        (b) => b.streams[0]?.acked_offset !== '-1',
      );
      expect(sub.webhook.signing.kid).toBe(kid);
      expect((await fetch(`${again}/ev/1`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'y' })).status).toBe(204);
      await receiver.until(() => receiver.deliveries.length === 2);
      const jwks = (await getJson(`${again}/__ds/jwks.json`)) as Jwks;
      for (const d of receiver.deliveries) {
        expect(kidOf(d.signature)).toBe(kid);
        expect(verifySignature(d.raw, d.signature, jwks)).toBe(true);
      }
      expect(await second.stop()).toBe(0);

      // Another key ring cannot open the stored key: each delivery fails, and says why (cli-signing-keys.test.ts: the line, the way out).
      const other = new CliProcess(args, { STOWAGE_SIGNING_KEY: randomBytes(32).toString('base64') });
      const third = await other.url;
      expect((await fetch(`${third}/ev/1`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'z' })).status).toBe(204);
      await eventuallyValue(
        async () => other.output.join(''),
        (out) => out.includes('no signing key') && out.includes("not in this server's ring"),
      );
      expect(receiver.deliveries).toHaveLength(2);
      expect(await other.stop()).toBe(0);
    } finally {
      await receiver.close();
    }
  }, 60_000);
});
