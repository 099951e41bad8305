import type { SessionStore } from '@stowage/core';
import { describe, it } from 'vitest';
import { callText, expectAnswerUnshared, expectArgumentsUnshared, later } from '../../aliasing.js';
import { type ConformanceOptions, opener, type StoreFactory } from '../../context.js';
import { bytes } from '../../helpers.js';

const MIN = 60_000;
const setOpts = () => ({ ttlMs: MIN, absoluteTtlMs: 10 * MIN, owner: 'alice', deadline: later() });

/** SessionStore: records answered are the caller's own; data and options given are copied. */
export function sessionAliasingTests(factory: StoreFactory<SessionStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);

  describe('callers share no objects with the store', () => {
    it('get: changing the returned record changes nothing stored', async () => {
      const { store } = await open();
      await store.set('s', bytes('session data'), setOpts());
      await expectAnswerUnshared({
        call: callText('SessionStore', 'get', 's'),
        name: 'record',
        make: async () => (await store.get('s'))!,
        observed: "SessionStore.get('s')",
        observe: () => store.get('s'),
      });
    });

    it('set: changing the returned { version } changes nothing stored', async () => {
      const { store } = await open();
      await expectAnswerUnshared({
        call: "SessionStore.set('s', bytes, { ttlMs, absoluteTtlMs, owner })",
        name: 'result',
        make: () => store.set('s', bytes('session data'), setOpts()),
        observed: "SessionStore.get('s')",
        observe: () => store.get('s'),
      });
    });

    it('set: changing data and opts after the call changes nothing stored', async () => {
      const { store } = await open();
      await expectArgumentsUnshared({
        call: (a, i) => callText('SessionStore', 'set', `s-${i}`, a['data'], a['opts']),
        args: () => ({ data: bytes('session data'), opts: setOpts() }),
        make: (a, i) => store.set(`s-${i}`, a['data'] as Uint8Array, a['opts'] as ReturnType<typeof setOpts>),
        observed: (i) => `SessionStore.get('s-${i}')`,
        observe: (i) => store.get(`s-${i}`),
      });
    });

    it('set over a live session: changing data and opts after the call changes nothing stored', async () => {
      const { store } = await open();
      await expectArgumentsUnshared({
        call: (a, i) => callText('SessionStore', 'set', `s-${i}`, a['data'], a['opts']),
        args: () => ({ data: bytes('new data'), opts: { ttlMs: 2 * MIN, owner: 'bob', ifVersion: 1, deadline: later() } }),
        make: async (a, i) => {
          await store.set(`s-${i}`, bytes('old data'), setOpts());
          return store.set(`s-${i}`, a['data'] as Uint8Array, a['opts'] as { ttlMs: number });
        },
        observed: (i) => `SessionStore.get('s-${i}')`,
        observe: (i) => store.get(`s-${i}`),
      });
    });

    it('rotate and touch: changing opts after the call changes nothing stored', async () => {
      const { store } = await open();
      await expectArgumentsUnshared({
        call: (a, i) => {
          const rotate = callText('SessionStore', 'rotate', `old-${i}`, `new-${i}`, a['rotate']);
          return `${rotate}, then ${callText('SessionStore', 'touch', `new-${i}`, 2 * MIN, a['touch'])}`;
        },
        args: () => ({ rotate: { ttlMs: 3 * MIN, deadline: later() }, touch: { deadline: later() } }),
        make: async (a, i) => {
          await store.set(`old-${i}`, bytes('session data'), setOpts());
          await store.rotate(`old-${i}`, `new-${i}`, a['rotate'] as { ttlMs: number });
          return store.touch(`new-${i}`, 2 * MIN, a['touch'] as { deadline: number });
        },
        observed: (i) => `SessionStore.get('new-${i}') and get('old-${i}')`,
        observe: async (i) => ({ renamed: await store.get(`new-${i}`), old: await store.get(`old-${i}`) }),
      });
    });
  });
}
