import { connect } from 'node:net';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { expect, it } from 'vitest';
import { createStreamsServer } from '../src/index.js';

const MIB = 1024 * 1024;

/**
 * close() lets a response that has ended but not yet been sent finish: a client reading a
 * 16 MiB catch-up slowly gets all of it. http's own server.close() destroyed such a
 * connection as idle (its response had ended), cutting the body at 6 to 8 MB.
 */
it('close() sends the whole of a large response still under way, then closes its connection', async () => {
  const store = new MemoryStreamStore();
  const server = createStreamsServer({ store, log: false });
  const base = new URL(await server.listen(0));
  const headers = { 'Content-Type': 'application/octet-stream' };
  expect((await fetch(`${base}big`, { method: 'PUT', headers })).status).toBe(201);
  for (let i = 0; i < 16; i++) {
    expect((await fetch(`${base}big`, { method: 'POST', headers, body: Buffer.alloc(MIB, i) })).status).toBe(204);
  }
  const socket = connect(Number(base.port), base.hostname);
  const chunks: Buffer[] = [];
  let received = 0;
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    received += c.length;
    // Read slowly: most of the body is still in the server when close() begins.
    if (received < 2 * MIB) {
      socket.pause();
      setTimeout(() => socket.resume(), 5);
    }
  });
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(`GET ${base.pathname}big?offset=-1 HTTP/1.1\r\nHost: a\r\n\r\n`);
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  const closed = server.close(30_000);
  await ended;
  await closed;
  const raw = Buffer.concat(chunks);
  const head = raw.subarray(0, raw.indexOf('\r\n\r\n') + 4).toString('latin1');
  const body = raw.subarray(head.length);
  expect(head).toMatch(/^HTTP\/1\.1 200 /);
  expect(head.toLowerCase()).toContain(`content-length: ${16 * MIB}`);
  expect(body.length).toBe(16 * MIB);
  for (let i = 0; i < 16; i++) expect(body[i * MIB + MIB - 1]).toBe(i);
  await store.close();
});
