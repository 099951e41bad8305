import type { StreamAppendOptions, StreamConfig, StreamCreateOptions, StreamStore } from '@stowage/core';
import { describe, it } from 'vitest';
import { callText, expectAnswerUnshared, expectArgumentsUnshared, later, outcome } from '../../aliasing.js';
import { type ConformanceOptions, opener, type StoreFactory } from '../../context.js';
import { bytes } from '../../helpers.js';

const TEXT = 'text/plain';
const HOUR = 3_600_000;
const msgs = (...parts: string[]) => parts.map(bytes);

/** What is stored under `name`: its metadata and every message from the start. */
async function stored(store: StreamStore, name: string): Promise<unknown> {
  return { head: await store.head(name), read: await store.read(name, '-1') };
}
const storedText = (name: string) => `StreamStore.head('${name}') and read('${name}', '-1')`;

/** StreamStore: results, messages and metadata answered are the caller's own; arguments given are copied. */
export function streamAliasingTests(factory: StoreFactory<StreamStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);

  describe('callers share no objects with the store', () => {
    it('read, head: changing the returned messages, bytes and info changes nothing stored', async () => {
      const { store } = await open();
      await store.create('src', { contentType: TEXT, ttlMs: HOUR }, { messages: msgs('a', 'bb', 'ccc') });
      await store.create('fork', {}, { fork: { from: 'src' }, messages: msgs('own') });
      for (const name of ['src', 'fork']) {
        const read = callText('StreamStore', 'read', name, '-1');
        await expectAnswerUnshared({
          call: read,
          name: 'result',
          make: () => store.read(name, '-1'),
          observed: storedText(name),
          observe: () => stored(store, name),
        });
        const head = callText('StreamStore', 'head', name);
        await expectAnswerUnshared({
          call: head,
          name: 'info',
          make: async () => (await store.head(name))!,
          observed: storedText(name),
          observe: () => stored(store, name),
        });
      }
    });

    it('create, append, closeStream: changing the returned result changes nothing stored', async () => {
      const { store, clock } = await open();
      const config = { contentType: TEXT, expiresAt: clock.now() + HOUR };
      await expectAnswerUnshared({
        call: callText('StreamStore', 'create', 's', config),
        name: 'result',
        make: () => store.create('s', { ...config }),
        observed: storedText('s'),
        observe: () => stored(store, 's'),
      });
      const producer = (seq: number) => ({ producer: { id: 'writer', epoch: 0, seq } });
      await expectAnswerUnshared({
        call: callText('StreamStore', 'append', 's', msgs('m'), producer(0)),
        name: 'result',
        make: (i) => store.append('s', msgs(`m${i}`), producer(i)),
        observed: storedText('s'),
        observe: () => stored(store, 's'),
      });
      await expectAnswerUnshared({
        call: callText('StreamStore', 'closeStream', 's', { producer: { id: 'closer', epoch: 0, seq: 0 } }),
        name: 'result',
        make: () => store.closeStream('s', { producer: { id: 'closer', epoch: 0, seq: 0 } }),
        observed: storedText('s'),
        observe: () => stored(store, 's'),
      });
    });

    it('create: changing config and the initial messages after the call changes nothing stored', async () => {
      const { store, clock } = await open();
      const configs: (() => StreamConfig)[] = [
        () => ({ contentType: TEXT, ttlMs: HOUR }),
        () => ({ contentType: 'application/json', expiresAt: clock.now() + HOUR, closed: true }),
      ];
      for (const [c, config] of configs.entries()) {
        const name = (i: number) => `s-${c}-${i}`;
        const opts = () => ({ messages: msgs('[1]', '[2,3]'), deadline: later() });
        await expectArgumentsUnshared({
          call: (a, i) => callText('StreamStore', 'create', name(i), a['config'], a['opts']),
          args: () => ({ config: config(), opts: opts() }),
          make: (a, i) => store.create(name(i), a['config'] as StreamConfig, a['opts'] as StreamCreateOptions),
          observed: (i) => `${storedText(name(i))}, and create('${name(i)}') again with the same arguments`,
          observe: async (i) => ({
            ...((await stored(store, name(i))) as object),
            again: await outcome(() => store.create(name(i), config(), opts())),
          }),
        });
      }
    });

    it('create a fork: changing the fork spec and its prefix after the call changes nothing stored', async () => {
      const { store } = await open();
      await store.create('src', { contentType: TEXT }, { messages: msgs('a', 'b-source', 'c') });
      const offsets = (await store.read('src', '-1')).messages.map((m) => m.offset);
      const name = (i: number) => `fork-${i}`;
      const opts = () => ({ fork: { from: 'src', offset: offsets[0]!, subOffset: 1, prefix: bytes('b-prefix') }, messages: msgs('own') });
      await expectArgumentsUnshared({
        call: (a, i) => callText('StreamStore', 'create', name(i), a['config'], a['opts']),
        args: () => ({ config: { contentType: TEXT }, opts: opts() }),
        make: (a, i) => store.create(name(i), a['config'] as StreamConfig, a['opts'] as StreamCreateOptions),
        observed: (i) => `${storedText(name(i))}, and create('${name(i)}') again with the same arguments`,
        observe: async (i) => ({
          ...((await stored(store, name(i))) as object),
          again: await outcome(() => store.create(name(i), { contentType: TEXT }, opts())),
        }),
      });
    });

    it('append, closeStream: changing messages and opts after the call changes nothing stored', async () => {
      const { store } = await open();
      // Each retry is one the store refuses or knows as a duplicate: it changes nothing either.
      const variants: (() => StreamAppendOptions)[] = [
        () => ({ contentType: TEXT, seq: 'seq-0001', deadline: later() }),
        () => ({ producer: { id: 'writer', epoch: 0, seq: 0 }, deadline: later() }),
        () => ({ close: true }),
      ];
      for (const [v, variant] of variants.entries()) {
        const name = (i: number) => `s-${v}-${i}`;
        await expectArgumentsUnshared({
          call: (a, i) => callText('StreamStore', 'append', name(i), a['messages'], a['opts']),
          args: () => ({ messages: msgs('x', 'yy'), opts: variant() }),
          make: async (a, i) => {
            await store.create(name(i), { contentType: TEXT });
            return store.append(name(i), a['messages'] as Uint8Array[], a['opts'] as StreamAppendOptions);
          },
          observed: (i) => `${storedText(name(i))}, and append('${name(i)}') again with the same arguments`,
          observe: async (i) => ({
            ...((await stored(store, name(i))) as object),
            again: await outcome(() => store.append(name(i), msgs('x', 'yy'), variant())),
          }),
        });
      }
      const claim = () => ({ producer: { id: 'closer', epoch: 3, seq: 0 }, deadline: later() });
      await expectArgumentsUnshared({
        call: (a, i) => callText('StreamStore', 'closeStream', `c-${i}`, a['opts']),
        args: () => ({ opts: claim() }),
        make: async (a, i) => {
          await store.create(`c-${i}`, { contentType: TEXT }, { messages: msgs('a') });
          return store.closeStream(`c-${i}`, a['opts'] as ReturnType<typeof claim>);
        },
        observed: (i) => `${storedText(`c-${i}`)}, and closeStream('c-${i}') again with the same claim`,
        observe: async (i) => ({
          ...((await stored(store, `c-${i}`)) as object),
          again: await outcome(() => store.closeStream(`c-${i}`, claim())),
        }),
      });
    });
  });
}
