import { MemoryStreamStore } from '@stowage/stores-memory';
import { recordTelemetry } from '@stowage/test-stores/telemetry';
import { expect, it } from 'vitest';
import { createStreamsServer } from '../src/index.js';

// No SDK at first: the server serves requests without spans (nothing would record them), and
// must notice an SDK registered later, behind the same global provider objects.
it('an SDK registered after the server started records its later requests', async () => {
  const store = new MemoryStreamStore({ telemetry: false });
  const server = createStreamsServer({ store, log: false });
  const url = `${await server.listen(0)}/late`;
  try {
    expect((await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } })).status).toBe(201);
    expect((await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'before' })).status).toBe(204);
    const recorded = recordTelemetry();
    await recorded.reset();
    expect((await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'after' })).status).toBe(204);
    expect(await (await fetch(`${url}?offset=-1`)).text()).toBe('beforeafter');
    for (let i = 0; i < 200 && recorded.spans().length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(recorded.spans().map((s) => s.name)).toEqual(['POST', 'GET']);
    const metrics = new Set((await recorded.points()).map((p) => p.metric));
    expect([...metrics].sort()).toEqual([
      'http.server.request.duration',
      'stowage.streams.appended_bytes',
      'stowage.streams.appends',
      'stowage.streams.read_bytes',
    ]);
  } finally {
    await server.close();
    await store.close();
  }
});
