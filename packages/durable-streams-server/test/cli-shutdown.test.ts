import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliProcess } from './cli-process.js';
import { appendInTwoParts, reached } from './held-append.js';
import { eventually } from './instrumented-store.js';

// SIGTERM / SIGINT: stop accepting, let in-flight appends finish, answer long-polls (204 at
// the tail, as on their timeout) and end SSE responses (clients resume elsewhere from the
// last control event), close the store, exit 0. A second signal exits at once (a repeat of
// the first within a second is that one delivered twice: a terminal's group and npm).

/**
 * A memory-store CLI with `--shutdown-timeout ms`, a stream `s`, and an append to it whose
 * body is half sent (held in flight until `held.second`).
 */
async function withAppendHeld(shutdownTimeoutMs: string) {
  const p = new CliProcess(['--store', 'memory', '--quiet', '--shutdown-timeout', shutdownTimeoutMs]);
  const url = await p.url;
  expect((await fetch(`${url}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } })).status).toBe(201);
  const held = appendInTwoParts(`${url}/s`, 'x');
  await reached(held, url);
  return { p, url, held };
}

/** An SSE read: every byte it got, and whether its body ended (rather than failed). */
function sseRead(url: string) {
  let text = '';
  const ended = fetch(url).then(async (res) => {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return 'ended' as const;
      text += decoder.decode(value, { stream: true });
    }
  });
  return { ended, text: () => text };
}

describe('stowage-streams on SIGTERM and SIGINT', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-shutdown-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: the in-flight append lands, the long-poll gets 204 at the tail, SSE ends, exit 0`, async () => {
      const file = join(dir, `${signal}.db`);
      const p = new CliProcess(['--store', `sqlite:${file}`, '--long-poll-timeout', '600000', '--quiet']);
      const url = await p.url;
      const created = await fetch(`${url}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'a' });
      expect(created.status).toBe(201);
      const tail = created.headers.get('stream-next-offset')!;

      const poll = fetch(`${url}/s?offset=${tail}&live=long-poll`);
      const sse = sseRead(`${url}/s?offset=${tail}&live=sse`);
      expect(await eventually(() => sse.text().includes('event: control'))).toBe(true);
      const append = appendInTwoParts(`${url}/s`, 'b');
      await reached(append, url); // the request reaches the server before the signal

      p.signal(signal);
      expect(await eventually(() => p.output.join('').includes(`${signal}: closing`))).toBe(true);
      const polled = await poll;
      expect(polled.status).toBe(204);
      expect(polled.headers.get('stream-next-offset')).toBe(tail);
      expect(polled.headers.get('stream-up-to-date')).toBe('true');
      expect(await sse.ended).toBe('ended');
      expect(sse.text()).toContain(`"streamNextOffset":"${tail}"`);

      // The append under way finishes after the signal, and is stored.
      append.second('c');
      const answered = await append.answered;
      expect(answered).toMatchObject({ status: 204 });
      expect(await p.exited).toBe(0);

      const again = new CliProcess(['--store', `sqlite:${file}`, '--quiet']);
      try {
        expect(await (await fetch(`${await again.url}/s?offset=-1`)).text()).toBe('abc');
      } finally {
        expect(await again.stop()).toBe(0);
      }
    });
  }

  it('new connections are refused once it shuts down (the readiness 503 of a closing server: health.test.ts)', async () => {
    const { p, url, held } = await withAppendHeld('600000');
    p.signal('SIGTERM');
    expect(await eventually(() => p.output.join('').includes('SIGTERM: closing'))).toBe(true);
    await expect(fetch(`${url}/__ds/health/ready`)).rejects.toThrow();
    held.second('y');
    expect(await held.answered).toMatchObject({ status: 204 });
    expect(await p.exited).toBe(0);
  });

  it('a second signal exits at once (code 1), with a request still in flight', async () => {
    const { p, held } = await withAppendHeld('600000');
    p.signal('SIGTERM');
    expect(await eventually(() => p.output.join('').includes('SIGTERM: closing'))).toBe(true);
    p.signal('SIGINT');
    expect(await p.exited).toBe(1);
    expect(p.output.join('')).toContain('SIGINT again: exiting now');
    held.abort();
  });

  it('the same signal again exits at once too, once a second has passed since the first', async () => {
    const { p, held } = await withAppendHeld('600000');
    p.signal('SIGINT');
    expect(await eventually(() => p.output.join('').includes('SIGINT: closing'))).toBe(true);
    // Within a second it would be taken as the first delivered twice (cli-npm-start.test.ts).
    await new Promise((r) => setTimeout(r, 1500));
    p.signal('SIGINT');
    expect(await p.exited).toBe(1);
    expect(p.output.join('')).toContain('SIGINT again: exiting now');
    held.abort();
  });

  it('--shutdown-timeout cuts a request that does not finish, says so in one line, then exits 0', async () => {
    const { p, held } = await withAppendHeld('200');
    p.signal('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(await held.answered).toBeInstanceOf(Error);
    const cut = p.logLines().filter((l) => String(l['msg']).startsWith('shutdown:'));
    expect(cut.map((l) => [l['level'], l['connections'], l['msg']])).toEqual([
      ['warn', 1, 'shutdown: 1 connection(s) still busy after 200 ms were cut'],
    ]);
  });
});
