import type { AddressInfo } from 'node:net';
import type { HealthResult, SessionStore } from '@stowage/core';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import express from 'express';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type AppOptions, createApp } from '../src/app.js';
import { assemble, type AppStores } from '../src/stores.js';

// What a newcomer found in the example, code people copy: tokens without `sub` skipped the
// per-user limit and shared one idempotency scope, tokens of any issuer and audience were
// taken, and a session store reported down answered 500 (req.session unset) instead of 503.

interface Running {
  url: string;
  close(): Promise<void>;
}

async function listen(app: express.Express): Promise<Running> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

async function start(stores: AppStores, options: Omit<AppOptions, 'selfUrl'> = {}): Promise<Running> {
  let url = '';
  const running = await listen(await createApp(stores, { selfUrl: () => url, sessionSecret: 'test secret', ...options }));
  url = running.url;
  return running;
}

const storesOf = (set: StoreSet, sessions: SessionStore = set.sessions()): AppStores =>
  assemble([sessions, set.rateLimits(), set.idempotency(), set.csrf(), set.locks(), set.jwks(), set.streams()], 'test', async () => {});

const ISSUER = 'https://issuer.test';

await describeStoreBackends(
  (backend) => {
    let set: StoreSet;
    let issuer: Running;
    let sign: (claims: { sub?: string; iss?: string; aud?: string }) => Promise<string>;
    beforeAll(async () => {
      set = await backend.open(freshNamespace());
      // An outside issuer of our own: its key set on 127.0.0.1, its tokens signed here.
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
      const jwks = express();
      jwks.get('/jwks.json', (_req, res) => void res.json({ keys: [jwk] }));
      issuer = await listen(jwks);
      sign = async ({ sub, iss = ISSUER, aud = 'stowage-example-api' }) => {
        const jwt = new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(iss).setAudience(aud).setExpirationTime('5m');
        return (sub === undefined ? jwt : jwt.setSubject(sub)).sign(privateKey);
      };
    });
    afterAll(async () => {
      await issuer?.close();
      await set?.close();
    });

    it('an outside issuer: only its tokens for this audience, with a subject, are taken', async () => {
      const app = await start(storesOf(set), { jwksUri: `${issuer.url}/jwks.json`, issuer: ISSUER });
      try {
        const whoami = async (token: string) => {
          const res = await fetch(`${app.url}/api/whoami`, { headers: { authorization: `Bearer ${token}` } });
          return [res.status, res.status === 200 ? await res.json() : (await res.json()).type];
        };
        const refused = [401, 'urn:stowage:problem:invalid-token'];
        expect(await whoami(await sign({ sub: 'ada' }))).toEqual([200, { user: 'ada' }]);
        expect(await whoami(await sign({}))).toEqual(refused);
        expect(await whoami(await sign({ sub: '' }))).toEqual(refused);
        expect(await whoami(await sign({ sub: 'ada', iss: 'https://other.test' }))).toEqual(refused);
        expect(await whoami(await sign({ sub: 'ada', aud: 'another-api' }))).toEqual(refused);
      } finally {
        await app.close();
      }
    });

    it('a JWKS_URI without its issuer does not start', async () => {
      await expect(createApp(storesOf(set), { selfUrl: () => '', jwksUri: `${issuer.url}/jwks.json` })).rejects.toThrow(/JWT_ISSUER/);
    });

    it("the dev issuer's tokens are its own: a token it signs for another app's issuer is refused; a bad sub is 400", async () => {
      const first = await start(storesOf(set));
      const second = await start(storesOf(set));
      try {
        const token = async (app: Running, body: string) =>
          fetch(`${app.url}/dev/issuer/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const { token: ofFirst } = (await (await token(first, '{"sub":"ada"}')).json()) as { token: string };
        const whoami = (app: Running) => fetch(`${app.url}/api/whoami`, { headers: { authorization: `Bearer ${ofFirst}` } });
        expect((await whoami(first)).status).toBe(200);
        expect((await whoami(second)).status).toBe(401);
        expect((await token(first, '{"sub":123}')).status).toBe(400);
      } finally {
        await first.close();
        await second.close();
      }
    });

    it('a session store reported down: /account answers 503 with Retry-After, not 500, and recovers', async () => {
      const real = set.sessions();
      let down = false;
      const sessions: SessionStore = Object.assign(Object.create(real) as SessionStore, {
        health: (): Promise<HealthResult> => (down ? Promise.resolve({ ok: false, latencyMs: 0, error: 'paused' }) : real.health!()),
      });
      const app = await start(storesOf(set, sessions));
      try {
        expect((await fetch(`${app.url}/account/me`)).status).toBe(200);
        down = true;
        const seen = await until(app.url, 503, 200); // the probe runs every 5 s
        expect([seen.status, seen.headers.get('retry-after')]).toEqual([503, '1']);
        expect(((await seen.json()) as { type: string }).type).toBe('urn:stowage:problem:store-unavailable');
        down = false;
        expect((await until(app.url, 200, 503)).status).toBe(200);
      } finally {
        await app.close();
      }
    }, 30_000);
  },
  ['sqlite', 'postgres', 'redis'],
);

/** Polls `GET /account/me` until it answers `status`; any status but `meanwhile` fails at once. */
async function until(url: string, status: number, meanwhile: number): Promise<Response> {
  for (let i = 0; i < 150; i++) {
    const res = await fetch(`${url}/account/me`);
    if (res.status === status) return res;
    expect(res.status).toBe(meanwhile);
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`GET /account/me never answered ${status}`);
}
