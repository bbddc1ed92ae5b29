/** The quick demo runs green from the built bins and leaves no process or directory behind. */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/processes.js';

const DEMO = path.join(REPO_ROOT, 'dist/deploy/demo/main.js');

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DEMO, ...args], { env: { ...process.env, ...env }, timeout: 300_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr });
    });
  });
}

describe('npm run demo -- --quick', () => {
  const parent = mkdtempSync(path.join(os.tmpdir(), 'ffk-demo-test-'));
  chmodSync(parent, 0o755); // the dev sites' pgbouncer runs as postgres and must reach its files below
  const root = path.join(parent, 'demo');
  afterAll(async () => {
    await run(['--down'], { FFK_DEMO_ROOT: root });
    rmSync(parent, { recursive: true, force: true });
  });

  it('snapshots a busy site, damages it, restores it to 0 integrity errors, and cleans up', async () => {
    const r = await run(['--quick'], { FFK_DEMO_ROOT: root });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('[1] ffkeeper ca init --dir');
    expect(r.out).toContain('[2] Start a NATS server with JetStream, one nkey per agent and controller');
    expect(r.out).toMatch(/nats-server configuration written: .*\(1 key: the controller's/);
    expect(r.out).toMatch(/integrity check: [1-9]\d* errors/);
    expect(r.out).toMatch(/Integrity check of msk-1 after the restore[\s\S]*✔ 0 errors/);
    // The web console's address (its page answered before it was printed) and a login token.
    expect(r.out).toMatch(/^Web console: https:\/\/127\.0\.0\.1:\d+\/ /m);
    expect(r.out).toMatch(/^ {2}login token of operator admin, good for 12 h: ffc1\.\S+$/m);
    expect(r.out).toContain('demo stopped');
    expect(existsSync(root)).toBe(false);
    console.log(r.out.split('\n').filter((l) => /freeze|✔/.test(l)).join('\n'));
  }, 360_000);
});
