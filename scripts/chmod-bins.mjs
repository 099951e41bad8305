#!/usr/bin/env node
// Makes each package's `bin` executable after tsc (it writes 0644; `npx stowage-streams` needs
// the execute bit after a fresh build).
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../packages/', import.meta.url).pathname;

for (const pkg of readdirSync(root)) {
  const manifest = join(root, pkg, 'package.json');
  if (!existsSync(manifest)) continue;
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8'));
  for (const target of typeof bin === 'string' ? [bin] : Object.values(bin ?? {})) {
    const file = join(root, pkg, target);
    if (existsSync(file)) chmodSync(file, 0o755);
  }
}
