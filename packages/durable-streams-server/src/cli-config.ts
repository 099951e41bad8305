import { parseArgs } from 'node:util';

/** A bad flag or environment value: the CLI prints its one line and exits 2 (usage error). */
export class UsageError extends Error {}

/** How each option is given: `--name` on the command line, `STOWAGE_<NAME>` (and its aliases) in the environment. */
interface Spec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  /** Environment names read after `STOWAGE_<NAME>`, in order (twelve-factor's `PORT`, `HOST`). */
  aliases?: string[];
}

const SPECS = {
  store: { type: 'string' },
  host: { type: 'string', aliases: ['HOST'] },
  port: { type: 'string', aliases: ['PORT'] },
  'base-path': { type: 'string' },
  'long-poll-timeout': { type: 'string' },
  'max-body-bytes': { type: 'string' },
  'max-read-bytes': { type: 'string' },
  'max-read-messages': { type: 'string' },
  'read-concurrency': { type: 'string' },
  'read-queue-timeout': { type: 'string' },
  'sse-heartbeat': { type: 'string' },
  'sse-max-duration': { type: 'string' },
  'send-timeout': { type: 'string' },
  'request-timeout': { type: 'string' },
  'headers-timeout': { type: 'string' },
  'cors-origin': { type: 'string' },
  'cache-control': { type: 'string' },
  'cross-origin-resource-policy': { type: 'string' },
  'cleanup-interval': { type: 'string' },
  'shutdown-timeout': { type: 'string' },
  schema: { type: 'string' },
  'table-prefix': { type: 'string' },
  'key-prefix': { type: 'string' },
  'read-cache': { type: 'string' },
  quiet: { type: 'boolean' },
  'log-level': { type: 'string' },
  subscriptions: { type: 'boolean' },
  webhooks: { type: 'boolean' },
  'allow-webhook-host': { type: 'string', multiple: true },
  'public-base-url': { type: 'string' },
  'rotate-signing-key': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} satisfies Record<string, Spec>;

type Name = keyof typeof SPECS;

/** Flags never read from the environment: they ask for a one-off action, not a setting. */
const FLAG_ONLY = new Set<Name>(['help', 'version', 'rotate-signing-key']);

/** The environment variable of a flag: `--max-read-bytes` is `STOWAGE_MAX_READ_BYTES`. */
export const envName = (flag: string): string => `STOWAGE_${flag.toUpperCase().replace(/-/g, '_')}`;

/** Where a value came from, for error lines: `--port` or `PORT`. */
type Origin = string;

/** The options as given, each with where it came from; unset ones are absent. */
export interface RawConfig {
  strings: Map<Name, { value: string; from: Origin }>;
  lists: Map<Name, { value: string[]; from: Origin }>;
  flags: Map<Name, { value: boolean; from: Origin }>;
}

/**
 * Reads every option from `argv`, then from `env` (`STOWAGE_<FLAG>`, then its aliases):
 * a flag wins over the environment, the environment over the default. A repeatable option
 * takes a comma-separated list from the environment; a boolean takes `1`/`true`/`yes` or
 * `0`/`false`/`no`; an empty variable counts as unset.
 */
export function readConfig(argv: string[], env: NodeJS.ProcessEnv): RawConfig {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({ args: withNegativeValues(argv), options: SPECS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see --help)`);
  }
  const raw: RawConfig = { strings: new Map(), lists: new Map(), flags: new Map() };
  for (const [name, spec] of Object.entries(SPECS) as [Name, Spec][]) {
    const given = values[name];
    if (given !== undefined) {
      const from = `--${name}`;
      if (spec.type === 'boolean') raw.flags.set(name, { value: given as boolean, from });
      else if (spec.multiple === true) raw.lists.set(name, { value: given as string[], from });
      else raw.strings.set(name, { value: given as string, from });
      continue;
    }
    if (FLAG_ONLY.has(name)) continue;
    const from = [envName(name), ...(spec.aliases ?? [])].find((n) => env[n] !== undefined && env[n] !== '');
    if (from === undefined) continue;
    const text = env[from]!;
    if (spec.type === 'boolean') raw.flags.set(name, { value: parseBoolean(from, text), from });
    else if (spec.multiple === true)
      raw.lists.set(name, {
        value: text
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
        from,
      });
    else raw.strings.set(name, { value: text, from });
  }
  return raw;
}

/**
 * `--port -1` as `--port=-1`: parseArgs refuses a value that starts with `-` as ambiguous,
 * and the range check below then says what is wrong with it in our words.
 */
function withNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    const next = argv[i + 1];
    const takesValue = name !== undefined && (SPECS as Record<string, Spec | undefined>)[name]?.type === 'string';
    if (takesValue && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

function parseBoolean(from: string, text: string): boolean {
  const t = text.trim().toLowerCase();
  if (t === '1' || t === 'true' || t === 'yes') return true;
  if (t === '0' || t === 'false' || t === 'no') return false;
  throw new UsageError(`${from} must be 1, true, yes, 0, false or no, got ${JSON.stringify(text)}`);
}

/** A whole number in `[min, max]`, or a UsageError naming where it came from. */
export function integerOption(raw: RawConfig, name: Name, fallback: number, min: number, max: number): number {
  const v = raw.strings.get(name);
  if (v === undefined) return fallback;
  const n = /^\d+$/.test(v.value) ? Number(v.value) : Number.NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`${v.from} must be an integer from ${min} to ${max}, got ${JSON.stringify(v.value)}`);
  return n;
}

export const stringOption = (raw: RawConfig, name: Name): { value: string; from: Origin } | undefined => raw.strings.get(name);
export const flagOption = (raw: RawConfig, name: Name): boolean => raw.flags.get(name)?.value ?? false;
export const listOption = (raw: RawConfig, name: Name): string[] => raw.lists.get(name)?.value ?? [];
