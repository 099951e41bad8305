import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStreamStore } from '@stowage/stores-sqlite';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createStreamsServer } from '../src/index.js';
import { holdLock } from './sqlite-lock-holder.js';

// Another process holds the SQLite file's write lock (BEGIN IMMEDIATE, as a long transaction
// or the sqlite3 shell would) until told to let go. The server keeps serving meanwhile: liveness
// and reads answer while the lock is held, and an append waits for it without stalling them.

const dir = mkdtempSync(join(tmpdir(), 'stowage-ds-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a SQLite file whose write lock another process holds', () => {
  it('liveness and reads answer while it is held; an append waits for it without stalling them, then lands once', async () => {
    const database = new Database(join(dir, 'streams.db'));
    // A lock wait far longer than the ten rounds, so a loaded machine cannot end the append first.
    const store = new SqliteStreamStore({ database, busyTimeoutMs: 40_000 });
    const server = createStreamsServer({ store, log: false });
    const base = await server.listen(0);
    const url = `${base}/held`;
    expect((await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } })).status).toBe(201);
    expect((await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'one' })).status).toBe(204);
    const lock = await holdLock(join(dir, 'streams.db'));
    try {
      let appended = false;
      const append = fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'two' }).then((res) => {
        appended = true;
        return res;
      });
      // Ten rounds of liveness and a read, each answered while the append still waits.
      for (let i = 0; i < 10; i++) {
        const live = await fetch(`${base}/__ds/health/live`);
        expect(live.status).toBe(200);
        expect(await live.json()).toEqual({ status: 'live' });
        const read = await fetch(`${url}?offset=-1`);
        expect(read.status).toBe(200);
        expect(await read.text()).toBe('one');
      }
      expect(appended).toBe(false);
      expect(await lock.release()).toBe(0);
      expect((await append).status).toBe(204);
      const read = await fetch(`${url}?offset=-1`);
      expect(await read.text()).toBe('onetwo');
    } finally {
      await lock.release();
      await server.close();
      await store.close();
      database.close();
    }
  }, 60_000);
});
