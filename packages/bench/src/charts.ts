#!/usr/bin/env node
/**
 * Draws the scale curve and the soak as SVG charts from the JSON the bench writes, with
 * vega-lite (compiled to vega, rendered headless by View.toSVG: no canvas, no browser).
 *
 *   npm run bench:charts                         results/scale*.json, results/soak*.json -> charts/*.svg
 *   npm run bench:charts -- --scale a.json --soak b.json --out dir
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ScaleResult } from './scale/main.js';
import type { SoakReport } from './soak/run.js';

const here = join(dirname(fileURLToPath(import.meta.url)), '..');

async function render(spec: TopLevelSpec, file: string): Promise<void> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  writeFileSync(file, `${await view.toSVG()}\n`);
  view.finalize();
  console.log(`wrote ${file}`);
}

/** Ticks at the measured sizes only (10k, 100k, 1M, 10M), not at every log step. */
const sizeAxis = { values: [1e4, 1e5, 1e6, 1e7, 1e8], format: '~s' };

const config = { font: 'sans-serif', view: { stroke: '#ddd' }, axis: { labelFontSize: 11, titleFontSize: 12 } };

/** p50 (or p99) against live keys, log-log, one panel per backend, one line per operation. */
function scaleSpec(result: ScaleResult, field: 'p50Us' | 'p99Us'): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `${field === 'p50Us' ? 'p50' : 'p99'} latency of one call (serial) against live keys per contract`,
    data: { values: result.rows },
    facet: { column: { field: 'backend', type: 'nominal', sort: ['memory', 'sqlite', 'postgres', 'redis'], title: null } },
    spec: {
      width: 180,
      height: 180,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'size', type: 'quantitative', scale: { type: 'log' }, title: 'live keys', axis: sizeAxis },
        y: { field, type: 'quantitative', scale: { type: 'log' }, title: 'µs' },
        color: { field: 'operation', type: 'nominal', title: null },
      },
    },
    resolve: { scale: { y: 'independent' } },
    config: { ...config, legend: { orient: 'bottom' } },
  };
}

/** p50 at each size over p50 at the smallest: the goal is the band under 1.2. */
function ratioSpec(result: ScaleResult): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'p50 at N live keys over p50 at the smallest size (goal: at most 1.2)',
    data: { values: result.rows },
    facet: { column: { field: 'backend', type: 'nominal', sort: ['memory', 'sqlite', 'postgres', 'redis'], title: null } },
    spec: {
      width: 180,
      height: 160,
      layer: [
        {
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'size', type: 'quantitative', scale: { type: 'log' }, title: 'live keys', axis: sizeAxis },
            y: { field: 'p50Ratio', type: 'quantitative', title: 'p50 / smallest', scale: { type: 'log' } },
            color: { field: 'operation', type: 'nominal', title: null },
          },
        },
        { mark: { type: 'rule', strokeDash: [4, 4], color: '#c00' }, encoding: { y: { datum: 1.2 } } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
    config: { ...config, legend: { orient: 'bottom' } },
  };
}

function pruneSpec(result: ScaleResult): TopLevelSpec {
  const values = result.prune.map((p) => ({
    backend: p.inWorker ? `${p.backend} (prune in worker)` : p.backend,
    live: p.live,
    'prune ms': p.pruneMs,
    'get p99 µs during prune': p.fg.p99Us,
    'get p99 µs without prune': p.baselineP99Us,
  }));
  const panel = (field: string, title: string, log = false) => ({
    width: 220,
    height: 180,
    title,
    mark: { type: 'line' as const, point: true },
    encoding: {
      x: { field: 'live', type: 'quantitative' as const, scale: { type: 'log' as const }, title: 'live rows', axis: sizeAxis },
      y: { field, type: 'quantitative' as const, title: field, ...(log && { scale: { type: 'log' as const } }) },
      color: { field: 'backend', type: 'nominal' as const },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Prune of ${result.prune[0]?.expired ?? 0} expired sessions beside N live ones`,
    data: { values },
    hconcat: [panel('prune ms', 'time to prune'), panel('get p99 µs during prune', 'foreground get p99 during a prune (log)', true)],
    config,
  };
}

/** Streams at scale: p50 per case, one panel per operation, grouped by backend. */
function streamsSpec(result: ScaleResult): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Streams at scale: p50 of one call (serial), small case against a long stream and many streams',
    data: { values: result.streams },
    facet: { column: { field: 'operation', type: 'nominal', title: null } },
    spec: {
      width: 260,
      height: 180,
      // Points, not bars: a bar on a log scale has no base.
      mark: { type: 'point', filled: true, size: 90 },
      encoding: {
        x: { field: 'backend', type: 'nominal', sort: ['memory', 'sqlite', 'postgres', 'redis'], title: null, axis: { labelAngle: 0 } },
        xOffset: { field: 'case', type: 'nominal' },
        y: { field: 'p50Us', type: 'quantitative', scale: { type: 'log' }, title: 'p50 µs' },
        color: { field: 'case', type: 'nominal', title: null },
      },
    },
    config: { ...config, legend: { orient: 'bottom' } },
  };
}

/** One panel per figure over time, one line per backend. */
function soakSpec(reports: SoakReport[]): TopLevelSpec {
  const values = reports.flatMap((r) =>
    r.samples.map((s, i) => {
      const dt = (s.atMs - (r.samples[i - 1]?.atMs ?? 0)) / 1000;
      return {
        backend: r.backend,
        seconds: Math.round(s.atMs / 1000),
        'calls / s': Math.round(s.ops / dt),
        'heap MiB (after GC)': s.heapUsed / 2 ** 20,
        'RSS MiB': s.rss / 2 ** 20,
        'open fds': s.fds,
        'records in the backend': s.records,
        'backend MiB (Redis: whole server)': s.bytes === null ? null : s.bytes / 2 ** 20,
      };
    }),
  );
  const panel = (field: string) => ({
    width: 240,
    height: 150,
    title: field,
    mark: { type: 'line' as const },
    encoding: {
      x: { field: 'seconds', type: 'quantitative' as const, title: 's' },
      y: { field, type: 'quantitative' as const, title: null, scale: { zero: false } },
      color: { field: 'backend', type: 'nominal' as const },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Soak: streams server and every contract, 64 calls in flight',
    data: { values },
    vconcat: [
      { hconcat: [panel('calls / s'), panel('heap MiB (after GC)'), panel('RSS MiB')] },
      { hconcat: [panel('open fds'), panel('records in the backend'), panel('backend MiB (Redis: whole server)')] },
    ],
    config,
  };
}

/** results/<kind>*.json, in name order. */
function resultFiles(kind: 'scale' | 'soak'): string[] {
  const dir = join(here, 'results');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.startsWith(kind) && f.endsWith('.json'))
    .sort()
    .map((f) => join(dir, f));
}

function merge(results: ScaleResult[]): ScaleResult {
  const by = <T>(lists: T[][], key: (x: T) => string) => [...new Map(lists.flat().map((x) => [key(x), x])).values()];
  return {
    ...results[0]!,
    rows: by(
      results.map((r) => r.rows),
      (r) => `${r.backend}|${r.operation}|${r.size}`,
    ),
    prune: by(
      results.map((r) => r.prune),
      (r) => `${r.backend}|${r.inWorker === true}|${r.live}`,
    ),
    streams: by(
      results.map((r) => r.streams ?? []),
      (r) => `${r.backend}|${r.case}|${r.operation}`,
    ),
    stops: results.flatMap((r) => r.stops),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      // Several files (comma-separated) are merged: a row of a later file replaces the same row of an earlier one.
      scale: { type: 'string', default: resultFiles('scale').join(',') },
      soak: { type: 'string', default: resultFiles('soak').join(',') },
      out: { type: 'string', default: join(here, 'charts') },
    },
  });
  mkdirSync(values.out, { recursive: true });
  const files = values.scale.split(',').filter((f) => existsSync(f));
  if (files.length > 0) {
    const scale = merge(files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as ScaleResult));
    await render(scaleSpec(scale, 'p50Us'), join(values.out, 'scale-p50.svg'));
    await render(scaleSpec(scale, 'p99Us'), join(values.out, 'scale-p99.svg'));
    await render(ratioSpec(scale), join(values.out, 'scale-ratio.svg'));
    if (scale.prune.length > 0) await render(pruneSpec(scale), join(values.out, 'prune.svg'));
    if ((scale.streams ?? []).length > 0) await render(streamsSpec(scale), join(values.out, 'streams-scale.svg'));
  } else console.log(`no ${values.scale}: run npm run bench:scale -- --json <file>`);
  const soakFiles = values.soak.split(',').filter((f) => existsSync(f));
  if (soakFiles.length > 0) {
    const runs = soakFiles.map((f) => (JSON.parse(readFileSync(f, 'utf8')) as { reports: SoakReport[] }).reports);
    // Per backend the longest run (the one a soak is judged by); of equal ones, the later file's.
    const longest = new Map<string, SoakReport>();
    for (const r of runs.flat()) {
      const held = longest.get(r.backend);
      if (held === undefined || r.samples.length >= held.samples.length) longest.set(r.backend, r);
    }
    const reports = [...longest.values()];
    await render(soakSpec(reports), join(values.out, 'soak.svg'));
  } else console.log(`no ${values.soak}: run npm run soak -- --json ${values.soak}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
