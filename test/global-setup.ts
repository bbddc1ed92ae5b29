/**
 * Builds dist/ (and bundles the bins into dist/bin/) once before the suite so end-to-end tests run the real bins as a user would, and has the
 * dev sites run their own processes (writer, sf-api stand-in, systemctl shims) from it too
 * (FFK_DEVSITE_CLI, deploy/dev-site/self.ts). FFK_SKIP_BUILD=1: dist/ is already built (npm test does).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ensureTestPki } from './harness/pki.js';

/**
 * Also creates the run's fleet PKI (test/harness/pki.ts): security is on in every test. And puts
 * test/harness/bin first on PATH: its `restic` runs the real one, and gives each repository `restic init`
 * creates a key with cheap scrypt parameters, so that the run's ~600 restic processes do not each spend
 * ~0.5 s of CPU on key derivation (see the wrapper).
 */
export default async function setup(): Promise<() => void> {
  if (process.env.FFK_SKIP_BUILD !== '1') {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
    // The web console's browser code (DOM, no Node): its own compiler run (controller/console/tsconfig.json).
    execFileSync('npx', ['tsc', '-p', 'controller/console/tsconfig.json'], { stdio: 'inherit' });
    execFileSync('node', ['scripts/bundle.mjs'], { stdio: 'inherit' });
  }
  const cli = path.resolve('dist/bin/ffkeeper-devsite.mjs');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: build first (npm run build) or run without FFK_SKIP_BUILD`);
  process.env.FFK_DEVSITE_CLI = cli;
  process.env.PATH = `${path.resolve('test/harness/bin')}${path.delimiter}${process.env.PATH ?? ''}`;
  const pki = await ensureTestPki();
  return () => rmSync(pki, { recursive: true, force: true });
}
