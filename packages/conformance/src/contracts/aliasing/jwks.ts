import type { JwksCacheStore } from '@stowage/core';
import { describe, it } from 'vitest';
import { callText, expectAnswerUnshared, expectArgumentsUnshared, later } from '../../aliasing.js';
import { type ConformanceOptions, opener, type StoreFactory } from '../../context.js';

const HOUR = 3_600_000;
const DOC = JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', kid: 'k1', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }] });
const URI = 'https://issuer.example/.well-known/jwks.json';

/** JwksCacheStore: documents answered are the caller's own; options given are read during the call only. */
export function jwksAliasingTests(factory: StoreFactory<JwksCacheStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);

  describe('callers share no objects with the store', () => {
    it('get: changing the returned document changes nothing stored', async () => {
      const { store, clock } = await open();
      await store.put(URI, DOC, { fetchedAt: clock.now(), ttlMs: HOUR });
      await expectAnswerUnshared({
        call: callText('JwksCacheStore', 'get', URI),
        name: 'document',
        make: async () => (await store.get(URI))!,
        observed: callText('JwksCacheStore', 'get', URI),
        observe: () => store.get(URI),
      });
    });

    it('put: changing opts after the call changes nothing stored', async () => {
      const { store, clock } = await open();
      const uri = (i: number) => `${URI}?${i}`;
      await expectArgumentsUnshared({
        call: (a, i) => callText('JwksCacheStore', 'put', uri(i), DOC, a['opts']),
        args: () => ({ opts: { fetchedAt: clock.now() - 1000, ttlMs: HOUR, deadline: later() } }),
        make: (a, i) => store.put(uri(i), DOC, a['opts'] as { fetchedAt: number; ttlMs: number }),
        observed: (i) => callText('JwksCacheStore', 'get', uri(i)),
        observe: (i) => store.get(uri(i)),
      });
    });
  });
}
