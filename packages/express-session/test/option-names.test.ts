import { MemorySessionStore } from '@stowage/stores-memory';
import { expect, it } from 'vitest';
import { StowageSessionStore } from '../src/index.js';

// Checked before anything else, so no store is needed to see a misspelt option refused.
it('refuses an option name it does not know, naming it', () => {
  const make = (o: object) => new StowageSessionStore({ store: {}, ...o } as never);
  expect(() => make({ timeoutMS: 100 })).toThrow(
    expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options.timeoutMS' } }),
  );
  expect(() => make({ timeoutMS: 100 })).toThrow(/options\.timeoutMS is not an option \(the options are .*timeoutMs/);
});

// Accepted, they failed every later save with a TypeError (`this.ownerOf is not a function`).
it('refuses an owner that is not a function and a codec without encode and decode', async () => {
  const store = new MemorySessionStore();
  for (const [name, value] of [
    ['owner', 'userId'],
    ['codec', {}],
    ['codec', { encode: () => new Uint8Array() }],
    ['codec', null],
  ] as const) {
    expect(() => new StowageSessionStore({ store, [name]: value } as never), `${name}: ${JSON.stringify(value)}`).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: `options.${name}` } }),
    );
  }
  new StowageSessionStore({ store, owner: () => 'u', codec: { encode: () => new Uint8Array(), decode: () => ({}) } });
  // A function carrying the two (a class's statics) fits the type, and was taken before: still taken.
  new StowageSessionStore({ store, codec: Object.assign(() => {}, { encode: () => new Uint8Array(), decode: () => ({}) }) });
  await store.close();
});
