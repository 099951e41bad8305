import { readFileSync } from 'node:fs';

/** The package's version, from its package.json (shipped in every tarball). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export const USAGE = `Usage: stowage-streams [options]

A Durable Streams protocol server over a Stowage StreamStore.

  --store SPEC              memory | sqlite:PATH | postgres://... | redis://...
                            (default: sqlite:./data/streams.db)
  --host HOST               interface to listen on (default: 127.0.0.1)
  --port PORT               port (default: 4437, the protocol's port; 0 picks one)
  --base-path PATH          streams live under this path (default: /)
  --schema NAME             postgres: schema of the tables, created if missing (default: public)
  --table-prefix PREFIX     postgres: prefix of every table name (default: stowage_)
  --key-prefix PREFIX       redis: prefix of every key (default: stowage:)
  --read-cache BYTES        sqlite, postgres, redis: bytes of stream messages kept in the
                            process to answer reads of them again (default: 67108864; 0: none)
  --long-poll-timeout MS    how long a long-poll waits for data (default: 20000)
  --max-body-bytes N        largest request body, larger is 413 (default: 8388608)
  --max-read-bytes N        most bytes of messages in one read response; the rest follows at
                            Stream-Next-Offset (default: 16777216; see the README: the official
                            client with live: false reads one response only)
  --max-read-messages N     most messages in one read response (default: 1000)
  --read-concurrency N      most reads of the store for responses at once; the rest wait their
                            turn in the server, outside the store's time limit (default: 4)
  --read-queue-timeout MS   longest wait of a read for its turn; then 503, the store is busy
                            (default: 2000)
  --sse-heartbeat MS        an idle SSE response gets a comment line this often, so proxies
                            keep it open (default: 15000)
  --sse-max-duration MS     an SSE response ends after this long; its client resumes where it
                            was with a new request (default: 60000)
  --send-timeout MS         a client that takes none of a response's data for this long is cut
                            (default: 30000)
  --request-timeout MS      longest time to receive a request, head and body; then 408 (default:
                            120000)
  --headers-timeout MS      longest time to receive a request's head; then 408 (default: 20000,
                            at most --request-timeout)
  --cors-origin ORIGIN      Access-Control-Allow-Origin of every response: *, one origin as
                            browsers send it (https://app.example.com), or false for no CORS
                            headers (default: *)
  --cache-control VALUE     Cache-Control of reads of complete chunks (default: private,
                            max-age=60, stale-while-revalidate=300); public only when no
                            stream is user-specific
  --cross-origin-resource-policy POLICY
                            cross-origin, same-site or same-origin (default: cross-origin)
  --cleanup-interval MS     delete expired streams this often (default: 60000; 0: never)
  --shutdown-timeout MS     on SIGTERM / SIGINT, how long in-flight requests may take before
                            their connections are cut (default: 10000); a second signal exits now
  --subscriptions           serve the reserved subscription APIs ({base}__ds/...), pull-wake
                            subscriptions only; their state lives in the same store (off by default)
  --webhooks                also accept webhook subscriptions and deliver them (implies
                            --subscriptions); needs STOWAGE_SIGNING_KEY (off by default)
  --allow-webhook-host HOST a webhook host or IP allowed despite the private-address rules
                            (exact match; repeatable), e.g. 127.0.0.1 for a local receiver
  --public-base-url URL     origin put in callback and JWKS URLs (default: the request's Host)
  --rotate-signing-key      with --webhooks: at start, add a new webhook signing key that signs
                            from then on (the replaced one stays in the JWKS for 24 h). Run one
                            replica once with it, e.g. when the ring key that sealed the stored
                            signing key is lost
  --quiet                   do not log error responses
  --log-level LEVEL         debug, info, warn, error or silent (default: info). Logs are JSON
                            lines: info (one per request) on stdout, warn and error on stderr;
                            the start-up and shutdown lines are plain text, at every level
  -h, --help                this text
  -v, --version             the version

Environment (a flag wins over its variable, a variable over the default):
  STOWAGE_<FLAG>            every option above but --help, --version and --rotate-signing-key:
                            --max-read-bytes is STOWAGE_MAX_READ_BYTES, --store STOWAGE_STORE;
                            switches take 1/true/yes or 0/false/no; --allow-webhook-host a
                            comma-separated list
  PORT, HOST                read after STOWAGE_PORT and STOWAGE_HOST
  STOWAGE_SIGNING_KEY       with --webhooks: the key ring that encrypts the webhook signing keys
                            kept in the store; keys of 32 random bytes in base64 (openssl rand
                            -base64 32), comma-separated. The first seals, every one opens; each
                            is named env-<first 12 hex of its SHA-256>. To rotate it: add the
                            new key last on every replica; then put it first (a start re-seals
                            the stored keys with it); then drop the old key.
  DATABASE_URL and REDIS_URL are not read: set STOWAGE_STORE=$DATABASE_URL to use one.

Health: GET {base}__ds/health/live (200 while serving) and {base}__ds/health/ready (200 when
the store answers, 503 when it does not or during shutdown).
Exit codes: 0 after a clean shutdown, 1 on a failure, 2 on a bad option or variable.
`;
