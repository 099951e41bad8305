import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends, freshNamespace, isTimeoutOrUnavailable, type StoreSet, warmUpWithRetries } from '@stowage/test-stores';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwksProvider, type JwksProviderOptions } from '../src/index.js';

/** A local issuer: serves its public keys, counts fetches, rotates keys, goes down. */
class Issuer {
  fetches = 0;
  down = false;
  cacheControl = 'max-age=60';
  private keys: Array<{ kid: string; privateKey: CryptoKey; jwk: JWK }> = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    await this.rotate();
    this.server = createServer((_req, res) => {
      this.fetches++;
      if (this.down) {
        res.writeHead(503).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': this.cacheControl });
      res.end(JSON.stringify({ keys: this.keys.map((k) => k.jwk) }));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  /** A new signing key; the previous one stays published (as issuers do during rotation). */
  async rotate(): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const kid = `k${this.keys.length + 1}`;
    this.keys = [
      { kid, privateKey: privateKey as CryptoKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } },
      ...this.keys.slice(0, 1),
    ];
    return kid;
  }

  sign(kid = this.keys[0]!.kid): Promise<string> {
    const key = this.keys.find((k) => k.kid === kid)!;
    return new SignJWT({ sub: 'ada' }).setProtectedHeader({ alg: 'ES256', kid }).setIssuedAt().setExpirationTime('5m').sign(key.privateKey);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

await describeStoreBackends((backend) => {
  let issuer: Issuer;
  let ns: string;
  const sets: StoreSet[] = [];
  // A replica: its own connection to the backend (memory stores live in one process: there
  // the replicas share one cache and one lock store).
  let memoryStores: { cache: ReturnType<StoreSet['jwks']>; locks: ReturnType<StoreSet['locks']>; ns: string } | undefined;
  const provider = async (opts: Partial<JwksProviderOptions> = {}) => {
    if (backend.kind === 'memory') {
      if (memoryStores?.ns !== ns) {
        const set = await backend.open(ns);
        sets.push(set);
        memoryStores = { cache: set.jwks(), locks: set.locks(), ns };
      }
      return createJwksProvider({ uri: issuer.url, cache: memoryStores.cache, locks: memoryStores.locks, ...opts });
    }
    const set = await backend.open(ns);
    sets.push(set);
    const [cache, locks] = [set.jwks(), set.locks()];
    await warmUp(cache, locks);
    return createJwksProvider({ uri: issuer.url, cache, locks, ...opts });
  };
  // A replica's first calls connect and create its namespace's tables: on a loaded machine more
  // than the provider's storeTimeoutMs, which the tests time. Done here, untimed, with retries.
  const warmUp = (cache: ReturnType<StoreSet['jwks']>, locks: ReturnType<StoreSet['locks']>) =>
    warmUpWithRetries(async () => {
      await cache.get('warm-up');
      await locks.release('warm-up', 'warm-up');
    }, isTimeoutOrUnavailable);
  beforeAll(async () => {
    issuer = new Issuer();
    await issuer.start();
  });
  afterAll(async () => {
    await issuer.close();
    for (const s of sets) await s.close();
  });

  it('verifies tokens with jose, and several replicas fetch the key set once between them', async () => {
    ns = freshNamespace();
    issuer.fetches = 0;
    const replicas: Awaited<ReturnType<typeof provider>>[] = [];
    for (let i = 0; i < 4; i++) replicas.push(await provider());
    const token = await issuer.sign();
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => jwtVerify(token, replicas[i % 4]!.resolver)));
    for (const r of results) expect(r.payload.sub).toBe('ada');
    expect(issuer.fetches).toBe(1);
    expect((await replicas[3]!.keysFor('k1')).map((k) => k.kid)).toEqual(['k1']);
  });

  it('takes freshness from Cache-Control within [minTtlMs, maxTtlMs]', async () => {
    ns = freshNamespace();
    issuer.fetches = 0;
    issuer.cacheControl = 'public, max-age=86400';
    // A window long enough for the second verification to fall in it on a loaded machine.
    const p = await provider({ minTtlMs: 100, maxTtlMs: 2000 });
    const token = await issuer.sign();
    await jwtVerify(token, p.resolver);
    await jwtVerify(token, p.resolver);
    expect(issuer.fetches).toBe(1);
    await sleep(2100); // past maxTtlMs: stale, refreshed on use
    await jwtVerify(token, p.resolver);
    expect(issuer.fetches).toBe(2);
    issuer.cacheControl = 'max-age=60';
  });

  it('refreshes on an unknown kid (a rotation), at most once per cooldown across replicas', async () => {
    ns = freshNamespace();
    issuer.fetches = 0;
    // A cooldown long enough for the forged attempts to fall in it on a loaded machine.
    const [a, b] = [await provider({ cooldownMs: 3000 }), await provider({ cooldownMs: 3000 })];
    await jwtVerify(await issuer.sign(), a.resolver);
    expect(issuer.fetches).toBe(1);
    const rotated = await issuer.rotate();
    const fresh = await issuer.sign(rotated);
    expect((await jwtVerify(fresh, b.resolver)).payload.sub).toBe('ada');
    expect(issuer.fetches).toBe(2);
    // Forged kids: 30 attempts on both replicas cause no fetch within the cooldown...
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'nope' })
      .sign((await generateKeyPair('ES256')).privateKey);
    const outcomes = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => jwtVerify(forged, (i % 2 ? a : b).resolver)));
    expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);
    expect(issuer.fetches).toBe(2);
    // ...and at most one after it.
    await sleep(3100);
    await Promise.allSettled(Array.from({ length: 10 }, (_, i) => jwtVerify(forged, (i % 2 ? a : b).resolver)));
    expect(issuer.fetches).toBe(3);
  });

  it('keeps serving stale keys while the issuer is down, for staleMs, then fails with UNAVAILABLE; recovers when it returns', async () => {
    ns = freshNamespace();
    issuer.fetches = 0;
    const errors: string[] = [];
    const p = await provider({
      minTtlMs: 100,
      maxTtlMs: 100,
      staleMs: 2500, // long enough for the stale verification to fall in it on a loaded machine
      cooldownMs: 100,
      waitMs: 100,
      onRefreshError: (e) => errors.push(e.code),
    });
    const token = await issuer.sign();
    await jwtVerify(token, p.resolver);
    issuer.down = true;
    await sleep(200); // past freshness
    expect((await jwtVerify(token, p.resolver)).payload.sub).toBe('ada');
    expect(errors.length).toBeGreaterThanOrEqual(1);
    await sleep(2600); // past the stale window
    await expect(jwtVerify(token, p.resolver)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    issuer.down = false;
    await sleep(300); // the failed refresh's lease and retry delay pass
    expect((await jwtVerify(token, p.resolver)).payload.sub).toBe('ada');
  });

  // A write lock does not stop SQLite's readers (WAL), so only these two can pause a read.
  if (backend.kind === 'postgres' || backend.kind === 'redis') {
    it('a paused store fails its calls by storeTimeoutMs: the keys this replica holds serve meanwhile, the failure reported', async () => {
      ns = freshNamespace();
      const errors: string[] = [];
      const p = await provider({
        storeTimeoutMs: 200,
        minTtlMs: 100,
        maxTtlMs: 100,
        staleMs: 60_000,
        onRefreshError: (e) => errors.push(e.code),
      });
      const token = await issuer.sign();
      // Before the pause, this replica gets its keys through the short limit under test too: a
      // slow moment of a loaded machine may fail a try, so it tries again (not what is tested).
      await warmUpWithRetries(() => jwtVerify(token, p.resolver), isTimeoutOrUnavailable);
      errors.length = 0;
      await sleep(150); // past freshness: the next verification looks at the shared cache
      const pause = await sets.at(-1)!.pause(3000);
      const started = Date.now();
      expect((await jwtVerify(token, p.resolver)).payload.sub).toBe('ada');
      // The stores' own limits are 2 s (Redis) and 5 s (PostgreSQL).
      expect(Date.now() - started).toBeLessThan(1500);
      expect(errors).toEqual([expect.stringMatching(/^(TIMEOUT|UNAVAILABLE)$/)]);
      await pause.over;
    });
  }
});

describe('createJwksProvider options', () => {
  it('validates them with StowageError', () => {
    const base = { cache: { get() {} } as never, locks: { acquire() {} } as never };
    expect(() => createJwksProvider({ ...base, uri: 'not a url' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => createJwksProvider({ ...base, uri: 'ftp://x/jwks' })).toThrow(/https/);
    expect(() => createJwksProvider({ ...base, uri: 'https://x/jwks', minTtlMs: 10, maxTtlMs: 5 })).toThrow(/minTtlMs/);
    expect(() => createJwksProvider({ uri: 'https://x/jwks', cache: {} as never, locks: base.locks })).toThrow(/cache/);
  });
});
