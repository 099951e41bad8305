#!/usr/bin/env node
// tsc compiles TypeScript only; this copies the other files a package ships from src to dist
// (the Lua scripts of stores-redis), keeping their paths, and makes each package's `bin`
// executable (tsc writes 0644; `npx stowage-streams` needs the execute bit after a fresh build).
import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../packages/', import.meta.url).pathname;
const ASSET = /\.lua$/;

function copy(from, to) {
  for (const entry of readdirSync(from)) {
    const src = join(from, entry);
    if (statSync(src).isDirectory()) copy(src, join(to, entry));
    else if (ASSET.test(entry)) cpSync(src, join(to, entry));
  }
}

for (const pkg of readdirSync(root)) {
  const src = join(root, pkg, 'src');
  if (existsSync(src)) copy(src, join(root, pkg, 'dist'));
}

for (const pkg of readdirSync(root)) {
  const manifest = join(root, pkg, 'package.json');
  if (!existsSync(manifest)) continue;
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8'));
  for (const target of typeof bin === 'string' ? [bin] : Object.values(bin ?? {})) {
    const file = join(root, pkg, target);
    if (existsSync(file)) chmodSync(file, 0o755);
  }
}
