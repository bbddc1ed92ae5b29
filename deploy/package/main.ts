#!/usr/bin/env node
/** `npm run package [-- --out DIR] [--version V] [--fast]`: builds the Debian package (deb.ts). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { runMain } from '../../shared/process.js';
import { buildDeb } from './deb.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

async function main(): Promise<void> {
  const opts = new Command('package')
    .description('build ffkeeper_<version>_all.deb from the built code (npm run build first)')
    .option('--out <dir>', 'where to write the .deb', path.join(REPO, 'dist-pkg'))
    .option('--version <version>', "the Debian version (default: package.json's)")
    .option('--fast', 'no compression (for tests; a release uses xz)', false)
    .parse()
    .opts<{ out: string; version?: string; fast: boolean }>();
  const started = Date.now();
  const r = buildDeb({ repoRoot: REPO, outDir: opts.out, compression: opts.fast ? 'none' : 'xz', ...(opts.version ? { version: opts.version } : {}) });
  process.stdout.write(`${r.file}: version ${r.version}, ${r.files} files, ${(r.installedKiB / 1024).toFixed(1)} MiB installed, built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  await Promise.resolve();
}

runMain('ffkeeper-package', main);
