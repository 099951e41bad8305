import { expect, it } from 'vitest';
import { stowageStore } from '../src/index.js';

// Checked before anything else, so no store is needed to see a misspelt option refused.
it('refuses an option name it does not know, naming it', () => {
  const make = (o: object) => stowageStore({ store: {}, ...o } as never);
  expect(() => make({ timeoutMS: 100 })).toThrow(
    expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options.timeoutMS' } }),
  );
  expect(() => make({ timeoutMS: 100 })).toThrow(/options\.timeoutMS is not an option \(the options are .*timeoutMs/);
});
