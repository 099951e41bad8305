import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, SqliteCsrfTokenStore, SqliteSessionStore } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'stowage-mp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const worker = join(import.meta.dirname, 'fixtures/worker.mjs');
let n = 0;

function spawn(file: string, prefix: string, task: string, extra = ''): ChildProcess {
  return fork(worker, [file, prefix, task, extra], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/** Starts `count` workers, releases them together, and collects their results. */
async function race<T>(count: number, task: string, extra = ''): Promise<{ file: string; prefix: string; results: T[] }> {
  const file = join(dir, `race-${++n}.db`);
  const prefix = `mp${n}_`;
  if (task !== 'migrate') {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    migrate(db, { tablePrefix: prefix });
    db.close();
  }
  const children = Array.from({ length: count }, () => spawn(file, prefix, task, extra));
  await Promise.all(children.map((c) => new Promise<void>((resolve) => c.once('message', () => resolve()))));
  const results = children.map(
    (c) =>
      new Promise<T>((resolve, reject) => {
        c.on('message', (m: { result?: T }) => m.result !== undefined && resolve(m.result));
        c.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
      }),
  );
  for (const c of children) c.send('go');
  return { file, prefix, results: await Promise.all(results) };
}

describe('four processes on one database file', () => {
  it('1,000 consume calls against a limit of 100 admit exactly 100, with no SQLITE_BUSY', async () => {
    const { results } = await race<{ allowed: number; errors: string[] }>(4, 'consume');
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    expect(results.reduce((sum, r) => sum + r.allowed, 0)).toBe(100);
  }, 60_000);

  it('200 reserve calls on one key give exactly one reserved', async () => {
    const { results } = await race<{ reserved: number; inFlight: number; errors: string[] }>(4, 'reserve');
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    expect(results.reduce((sum, r) => sum + r.reserved, 0)).toBe(1);
    expect(results.reduce((sum, r) => sum + r.inFlight, 0)).toBe(199);
  }, 60_000);

  it('a single-use CSRF token validates once across processes', async () => {
    const file = join(dir, 'csrf.db');
    const db = new Database(file);
    const store = new SqliteCsrfTokenStore({ database: db, tablePrefix: 'csrf_' });
    const token = await store.issue('session-1', { ttlMs: 60_000 });
    await store.close();
    db.close();
    const children = Array.from({ length: 4 }, () => spawn(file, 'csrf_', 'csrf', token));
    await Promise.all(children.map((c) => new Promise<void>((resolve) => c.once('message', () => resolve()))));
    const results = children.map(
      (c) =>
        new Promise<{ valid: number; errors: string[] }>((resolve) =>
          c.on('message', (m: { result?: { valid: number; errors: string[] } }) => m.result && resolve(m.result)),
        ),
    );
    for (const c of children) c.send('go');
    const all = await Promise.all(results);
    expect(all.flatMap((r) => r.errors)).toEqual([]);
    expect(all.reduce((sum, r) => sum + r.valid, 0)).toBe(1);
  }, 60_000);

  it('migrate runs safely in four processes at once on a fresh file', async () => {
    const { file, prefix, results } = await race<{ errors: string[] }>(4, 'migrate');
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    const db = new Database(file, { readonly: true });
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?`).all(`${prefix}%`);
    db.close();
    expect(tables.length).toBe(10);
  }, 60_000);
});

describe('crash safety', () => {
  it('a process killed mid-write leaves a sound database holding every acknowledged write', async () => {
    const file = join(dir, 'crash.db');
    const child = spawn(file, 'crash_', 'writeUntilKilled');
    let acked = -1;
    await new Promise<void>((resolve) => {
      child.on('message', (m: { ready?: boolean; acked?: number }) => {
        if (m.ready) child.send('go');
        if (m.acked !== undefined) {
          acked = m.acked;
          if (acked >= 400) {
            child.kill('SIGKILL');
            resolve();
          }
        }
      });
    });
    await new Promise((r) => child.once('exit', r));
    const db = new Database(file);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const store = new SqliteSessionStore({ database: db, tablePrefix: 'crash_' });
    for (let i = 0; i <= acked; i++) {
      const s = await store.get(`s-${i}`);
      expect(s && Buffer.from(s.data).toString(), `write ${i} was acknowledged`).toBe(`payload-${i}`.repeat(20));
    }
    await store.close();
    db.close();
  }, 60_000);
});
