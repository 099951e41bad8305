#!/usr/bin/env node
// Checks every publishable package as npm would publish it (run after `npm run build`):
// - the tarball holds no .tsbuildinfo, the root LICENSE text, and every source a .map points to;
// - publint (--strict) and @arethetypeswrong/cli (esm-only: the packages are ESM for Node >= 20)
//   find nothing in the tarball;
// - scripts/consumer imports every exported subpath and compiles with the oldest TypeScript we
//   support, skipLibCheck off.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, relative } from 'node:path';

const root = join(dirname(new URL(import.meta.url).pathname), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const license = readFileSync(join(root, 'LICENSE'), 'utf8');
const failures = [];
const fail = (pkg, message) => failures.push(`${pkg}: ${message}`);

function run(command, args, options = {}) {
  return execFileSync(command, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

function publishable() {
  return readdirSync(join(root, 'packages'))
    .map((name) => join(root, 'packages', name))
    .filter((dir) => existsSync(join(dir, 'package.json')))
    .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
    .filter(({ manifest }) => manifest.private !== true);
}

/** Each .map must point at files that ship, or debuggers and go-to-definition dead-end. */
function checkContents(pkg, dir, files) {
  const shipped = new Set(files);
  for (const file of files) {
    if (file.endsWith('.tsbuildinfo')) fail(pkg, `ships ${file}`);
    if (!file.endsWith('.map')) continue;
    const map = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    for (const source of map.sources) {
      const target = normalize(join(dirname(file), map.sourceRoot ?? '', source));
      if (!shipped.has(target)) fail(pkg, `${file} points to ${target}, which is not in the tarball (stale dist?)`);
    }
  }
  if (!shipped.has('LICENSE')) fail(pkg, 'ships no LICENSE');
  else if (readFileSync(join(dir, 'LICENSE'), 'utf8') !== license) fail(pkg, 'LICENSE differs from the root LICENSE');
}

function tool(pkg, command, args) {
  try {
    run(bin(command), args);
  } catch (error) {
    fail(pkg, `${command} failed:\n${error.stdout}${error.stderr}`);
  }
}

/** Every subpath a package exports must be imported by the consumer fixture. */
function checkConsumerCovers(packages) {
  const fixture = readFileSync(join(root, 'scripts/consumer/index.ts'), 'utf8');
  const imported = new Set([...fixture.matchAll(/from '([^']+)'/g)].map((match) => match[1]));
  for (const { manifest } of packages) {
    for (const subpath of Object.keys(manifest.exports ?? { '.': null })) {
      if (subpath === './package.json') continue;
      const specifier = subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`;
      if (!imported.has(specifier)) fail(manifest.name, `scripts/consumer/index.ts does not import '${specifier}'`);
    }
  }
}

const packages = publishable();
const scratch = mkdtempSync(join(tmpdir(), 'stowage-packs-'));
try {
  for (const { dir, manifest } of packages) {
    const pkg = manifest.name;
    if (!existsSync(join(dir, 'dist'))) {
      fail(pkg, 'no dist: run `npm run build` first');
      continue;
    }
    const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: dir }));
    const tarball = join(scratch, packed.filename);
    checkContents(
      pkg,
      dir,
      packed.files.map((file) => file.path),
    );
    tool(pkg, 'publint', ['run', tarball, '--strict']);
    tool(pkg, 'attw', [tarball, '--profile', 'esm-only', '--format', 'ascii', '--no-color']);
    console.log(`checked ${pkg} (${packed.files.length} files)`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

checkConsumerCovers(packages);
const consumer = join(root, 'scripts/consumer');
const oldest = join(consumer, 'node_modules/typescript/bin/tsc');
try {
  const version = run(process.execPath, [oldest, '--version']).trim();
  run(process.execPath, [oldest, '-p', consumer]);
  console.log(`scripts/consumer compiles with ${version}, skipLibCheck off`);
} catch (error) {
  fail(relative(root, consumer), `the oldest TypeScript rejects the emitted types:\n${error.stdout}${error.stderr}`);
}

if (failures.length > 0) {
  console.error(`\n${failures.length} package check(s) failed:\n${failures.join('\n')}`);
  process.exit(1);
}
console.log(`${packages.length} packages: tarballs, publint, attw and the consumer fixture are clean`);
