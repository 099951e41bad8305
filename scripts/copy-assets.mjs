#!/usr/bin/env node
// tsc compiles TypeScript only; this copies the other files a package ships from src to dist
// (the Lua scripts of stores-redis), keeping their paths.
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
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
