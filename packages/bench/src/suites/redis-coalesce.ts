import type { RedisOptions } from 'ioredis';
import { type Comparison, type Contender, type Op, pairedRatio, type Row } from '../harness.js';
import { oursIdempotency, oursRateLimit, oursSession, redisEnv, type StoreExtras } from './redis-env.js';

/** The three ways our stores' writes can reach an ioredis socket, by the row's library name. */
const MODES: readonly { library: string; client: RedisOptions; store: StoreExtras }[] = [
  { library: 'stowage, coalesceWrites: false, plain ioredis', client: {}, store: { coalesceWrites: false } },
  { library: 'stowage, coalesceWrites: true (socket corking)', client: {}, store: { coalesceWrites: true } },
  {
    library: 'stowage, coalesceWrites: false, ioredis enableAutoPipelining',
    client: { enableAutoPipelining: true },
    store: { coalesceWrites: false },
  },
];
const [PLAIN, CORKING, AUTO] = MODES.map((m) => m.library) as [string, string, string];

/**
 * Write coalescing on ioredis, side by side in one run: our stores with their socket corking
 * (`coalesceWrites: true`, the default, on a default client), with ioredis's own documented
 * `enableAutoPipelining: true` instead (corking off), and with neither. The ratio column is
 * over the plain row; {@link coalesceRatios} prints auto-pipelining over corking.
 */
export function redisCoalesceComparisons(): Comparison[] {
  const env = redisEnv();
  const rows = (operation: string, contract: string, make: (client: object, prefix: string, store: StoreExtras) => Op | Promise<Op>) => {
    const [plain, corking, auto] = MODES.map(
      (m): Contender => ({ library: m.library, setup: async () => make(env.ioredis(m.client), env.prefix(), m.store) }),
    ) as [Contender, Contender, Contender];
    return { contract, operation, backend: 'redis (ioredis)', anchor: plain, ours: corking, others: [auto] } satisfies Comparison;
  };
  const list: Comparison[] = [
    rows('consume, 10k keys', 'RateLimitStore', (c, p, s) => oursRateLimit(c, p, s)),
    rows('get + JSON decode, 10k sessions', 'SessionStore', (c, p, s) => oursSession(c, p, 'get', s)),
    rows('set + JSON encode, 10k sessions', 'SessionStore', (c, p, s) => oursSession(c, p, 'set', s)),
    rows('reserve + complete, new keys', 'IdempotencyStore', (c, p, s) => oursIdempotency(c, p, false, s)),
    rows('replay a completed key', 'IdempotencyStore', (c, p, s) => oursIdempotency(c, p, true, s)),
  ];
  list[list.length - 1]!.ours.teardown = env.cleanup;
  return list;
}

/**
 * Per operation and load: corking and auto-pipelining over plain, and auto-pipelining over
 * corking, each the median of the ratios within each round (lowest..highest round after it).
 */
export function coalesceRatios(rows: readonly Row[]): string[] {
  const out: string[] = [];
  for (const plain of rows.filter((r) => r.library === PLAIN)) {
    const find = (library: string) =>
      rows.find((r) => r.library === library && r.operation === plain.operation && r.load === plain.load && r.contract === plain.contract);
    const corking = find(CORKING);
    const auto = find(AUTO);
    if (!corking || !auto) continue;
    const r = (a: Row, b: Row) => {
      const p = pairedRatio(a, b);
      return p === undefined ? '-' : `${p.median.toFixed(2)}x (${p.min.toFixed(2)}..${p.max.toFixed(2)})`;
    };
    out.push(`| ${plain.contract} ${plain.operation} | ${plain.load} | ${r(corking, plain)} | ${r(auto, plain)} | ${r(auto, corking)} |`);
  }
  if (out.length === 0) return out;
  return ['| operation | load | corking / plain | autoPipelining / plain | autoPipelining / corking |', '|---|---|---:|---:|---:|', ...out];
}
