// Keys built from request data that a store cannot take as they are (over 1024 UTF-8 bytes,
// with U+0000, with a lone surrogate) go through core's toStoreKey: each is a key of its own,
// counted and checked like any other, whatever `failOpen` says. No store error is raised.
// The values come in a header as JSON text (the way a claim of a decoded token would), so
// that NUL and lone surrogates survive HTTP.
import { describeStoreBackends, freshNamespace, type StoreSet, asJsonHeader, UNKEYABLE_REQUEST_DATA } from '@stowage/test-stores';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csrf, idempotency, rateLimit, type ExpressRequest } from '../src/express.js';
import { headerOf, listen, send, type RawResponse, type Running } from './http.js';

const SHAPES = UNKEYABLE_REQUEST_DATA;
const asHeader = asJsonHeader;
const fromHeader = (req: ExpressRequest, name: string): string | undefined => {
  const raw = req.headers[name];
  return typeof raw === 'string' ? (JSON.parse(raw) as string) : undefined;
};
const json = (r: RawResponse): unknown => JSON.parse(r.body.toString('utf8'));

await describeStoreBackends((backend) => {
  let set: StoreSet;
  const errors: string[] = [];
  const onStoreError = (e: { code: string }, ctx: { middleware: string }) => void errors.push(`${ctx.middleware} ${e.code}`);
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
  });
  afterAll(() => set.close());

  for (const failOpen of [false, true]) {
    describe(`failOpen: ${failOpen}`, () => {
      let app: Running;
      let runs = 0;
      beforeAll(async () => {
        errors.length = 0;
        const a = express();
        a.use(express.json());
        const common = { failOpen, onStoreError };
        a.get(
          '/limited',
          rateLimit({
            ...common,
            store: set.rateLimits(),
            prefix: `rl-${failOpen}:`,
            policies: { algorithm: 'anchored-window', limit: 3, windowMs: 600_000 },
            key: (req) => fromHeader(req, 'x-user'),
          }),
          (_req, res) => void res.json({ ok: true }),
        );
        a.patch(
          '/items/:id',
          idempotency({ ...common, store: set.idempotency(), principal: (req) => fromHeader(req, 'x-user') }),
          (req, res) => void res.status(200).json({ run: ++runs, id: req.params['id']!.length }),
        );
        const protection = csrf({ ...common, store: set.csrf(), sessionId: (req) => fromHeader(req, 'x-session') });
        a.get('/token', protection, async (req: ExpressRequest, res) => void res.json({ token: await req.csrfToken!() }));
        a.post('/transfer', protection, (_req, res) => void res.json({ done: true }));
        app = await listen(a);
      });
      afterAll(() => app.close());

      for (const [shape, user] of Object.entries(SHAPES)) {
        it(`rateLimit: a key ${shape} is limited exactly (3 of 6), apart from 'alice'`, async () => {
          const statuses: number[] = [];
          for (let i = 0; i < 6; i++) statuses.push((await send(`${app.url}/limited`, { headers: { 'x-user': asHeader(user) } })).status);
          expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);
          const plain = await send(`${app.url}/limited`, { headers: { 'x-user': asHeader(`alice-${shape}`) } });
          expect([plain.status, headerOf(plain, 'ratelimit')]).toEqual([200, expect.stringMatching(/;r=2;/)]);
          expect(errors).toEqual([]);
        });
      }

      it('rateLimit: two lone surrogates (and U+FFFD, what UTF-8 makes of both) are three clients', async () => {
        const statuses = async (user: string) => {
          const out: number[] = [];
          for (let i = 0; i < 4; i++) out.push((await send(`${app.url}/limited`, { headers: { 'x-user': asHeader(user) } })).status);
          return out;
        };
        for (const user of ['bob\ud800', 'bob\udc00', 'bob\ufffd']) expect(await statuses(user)).toEqual([200, 200, 200, 429]);
        expect(errors).toEqual([]);
      });

      const cases: [string, { path: string; user: string }][] = [
        ['a path over 1024 bytes', { path: `/items/${'x'.repeat(1100)}`, user: 'alice' }],
        ['a principal with U+0000', { path: '/items/1', user: SHAPES['with U+0000']! }],
        ['a principal with a lone surrogate', { path: '/items/1', user: SHAPES['with a lone surrogate']! }],
      ];
      for (const [label, { path, user }] of cases) {
        it(`idempotency: ${label}: one handler run of three, then replays`, async () => {
          const before = runs;
          const patch = () =>
            send(`${app.url}${path}`, {
              method: 'PATCH',
              headers: { 'content-type': 'application/json', 'idempotency-key': `k-${failOpen}`, 'x-user': asHeader(user) },
              body: '{"qty":2}',
            });
          const first = await patch();
          const replays = [await patch(), await patch()];
          expect(first.status).toBe(200);
          expect(json(first)).toEqual({ run: before + 1, id: path.length - '/items/'.length });
          for (const r of replays) {
            expect([r.status, headerOf(r, 'idempotent-replayed')]).toEqual([200, 'true']);
            expect(r.body.equals(first.body)).toBe(true);
          }
          expect(runs).toBe(before + 1);
          expect(errors).toEqual([]);
        });
      }

      it('idempotency: principals with two different lone surrogates are two scopes, each replayed', async () => {
        const before = runs;
        for (const user of ['carol\ud800', 'carol\udc00']) {
          const patch = () =>
            send(`${app.url}/items/2`, {
              method: 'PATCH',
              headers: { 'content-type': 'application/json', 'idempotency-key': `k-carol-${failOpen}`, 'x-user': asHeader(user) },
              body: '{}',
            });
          const first = await patch();
          expect([first.status, headerOf(first, 'idempotent-replayed')]).toEqual([200, undefined]);
          const retry = await patch();
          expect([retry.status, headerOf(retry, 'idempotent-replayed'), retry.body.equals(first.body)]).toEqual([200, 'true', true]);
        }
        expect(runs).toBe(before + 2);
      });

      for (const [shape, sid] of Object.entries(SHAPES)) {
        it(`csrf: a session id ${shape} gets tokens that work for it, and only for it`, async () => {
          const issued = await send(`${app.url}/token`, { headers: { 'x-session': asHeader(sid) } });
          expect(issued.status).toBe(200);
          const { token } = json(issued) as { token: string };
          const transfer = (session: string, csrfToken: string) =>
            send(`${app.url}/transfer`, { method: 'POST', headers: { 'x-session': asHeader(session), 'x-csrf-token': csrfToken } });
          expect((await transfer(sid, token)).status).toBe(200);
          const forged = await transfer(sid, 'forged');
          expect([forged.status, (json(forged) as { type: string }).type]).toEqual([403, 'urn:stowage:problem:csrf-token-invalid']);
          // The same token under another session: its valid prefix, and the other lone surrogate.
          for (const other of ['alice', 'alice\udc00']) expect((await transfer(other, token)).status).toBe(403);
          expect(errors).toEqual([]);
        });
      }
    });
  }
});
