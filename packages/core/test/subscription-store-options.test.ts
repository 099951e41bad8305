import { expect, it } from 'vitest';
import { createSubscriptionStore } from '../src/index.js';

// Checked before anything else, so no session store is needed to see a misspelt option refused.
it('createSubscriptionStore refuses an option name it does not know, naming it', () => {
  const make = (o: object) => createSubscriptionStore({ sessions: {}, ...o } as never);
  expect(() => make({ keyprefix: 'x' })).toThrow(
    expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options.keyprefix' } }),
  );
  expect(() => make({ keyprefix: 'x' })).toThrow(/options\.keyprefix is not an option \(the options are .*keyPrefix/);
});
