// Keys are scoped by principal: no principal and the principal '-' are two scopes, not one.
import { MemoryIdempotencyStore } from '@stowage/stores-memory';
import express from 'express';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency } from '../src/express.js';
import { listen, send, type Running } from './http.js';

let app: Running;
let runs = 0;

beforeAll(async () => {
  const a = express();
  a.use(express.json());
  a.use(idempotency({ store: new MemoryIdempotencyStore(), principal: (req) => req.headers['x-user'] as string | undefined }));
  a.post('/orders', (_req, res) => void res.status(201).json({ run: ++runs }));
  app = await listen(a);
});
afterAll(() => app.close());

it("a request without a principal and one by the principal '-' with the same key both run", async () => {
  const post = (headers: Record<string, string>) =>
    send(`${app.url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'k', ...headers }, body: '{}' });
  expect(JSON.parse((await post({})).body.toString())).toEqual({ run: 1 });
  expect(JSON.parse((await post({ 'x-user': '-' })).body.toString())).toEqual({ run: 2 });
  expect(JSON.parse((await post({ 'x-user': '-' })).body.toString())).toEqual({ run: 2 }); // its own replay
  expect(JSON.parse((await post({})).body.toString())).toEqual({ run: 1 });
});
