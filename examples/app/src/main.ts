#!/usr/bin/env node
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { openStores } from './stores.js';

const spec = process.env.STOWAGE_STORE ?? 'sqlite:./data/example.db';
const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';

const stores = await openStores(spec).catch((err: Error) => {
  console.error(`cannot start: ${err.message}`);
  process.exit(2);
});
let url = '';
let app: Awaited<ReturnType<typeof createApp>>;
try {
  app = await createApp(stores, {
    selfUrl: () => url,
    ...(process.env.JWKS_URI === undefined ? {} : { jwksUri: process.env.JWKS_URI }),
    ...(process.env.JWT_ISSUER === undefined ? {} : { issuer: process.env.JWT_ISSUER }),
    ...(process.env.JWT_AUDIENCE === undefined ? {} : { audience: process.env.JWT_AUDIENCE }),
    ...(process.env.SESSION_SECRET === undefined ? {} : { sessionSecret: process.env.SESSION_SECRET }),
  });
} catch (err) {
  console.error(`cannot start: ${(err as Error).message}`);
  await stores.close();
  process.exit(2);
}
const server = app.listen(port, host, () => {
  url = `http://${host}:${(server.address() as AddressInfo).port}`;
  console.log(`Stowage example on ${url} (store: ${stores.label})`);
  if (process.env.SESSION_SECRET === undefined) {
    console.log('SESSION_SECRET is not set: session cookies are signed with a random secret, so another instance cannot read them');
  }
  // Without JWKS_URI the dev issuer is ours; with it, tokens come from that issuer.
  const tokens =
    process.env.JWKS_URI === undefined
      ? `curl -s -X POST ${url}/dev/issuer/token -H 'content-type: application/json' -d '{"sub":"ada"}'`
      : `API tokens from ${process.env.JWT_ISSUER} (keys at ${process.env.JWKS_URI})`;
  console.log(`Walkthrough: examples/app/README.md; ${tokens}`);
});

const stop = (): void => {
  server.close();
  server.closeAllConnections();
  stores.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
