/**
 * Issue 19, the Debian package (deploy/package/deb.ts), built from this checkout's dist/ and installed
 * with the real dpkg into a clean root (`dpkg --root`, maintainer scripts run chrootless with DPKG_ROOT):
 * - the three commands run from the installed tree alone and report the version; both example configs
 *   pass `--check-config`;
 * - `systemd-analyze verify` accepts both units against the installed tree;
 * - an upgrade keeps an edited conffile (/etc/ffkeeper/agent.yaml) and replaces the code;
 * - purge removes the code and the configs and leaves /var/lib/ffkeeper alone.
 * Built uncompressed (a release uses xz; lintian, ~20 s, is run by hand: see README).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../../deploy/node-flags.js';
import { buildDeb, type DebResult } from '../../deploy/package/deb.js';
import { REPO_ROOT, tempDir } from '../harness/processes.js';

function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): { code: number; out: string } {
  const r = spawnSync(file, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}`.trim() };
}

function must(file: string, args: string[]): string {
  const r = run(file, args);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} → exit ${r.code}: ${r.out}`);
  return r.out;
}

describe('the Debian package, installed into a clean root', () => {
  const tmp = tempDir('ffk-package-');
  const root = path.join(tmp.dir, 'root');
  const dpkg = (...args: string[]): string => must('dpkg', [`--root=${root}`, '--force-depends', '--force-script-chrootless', ...args]);
  let first: DebResult;
  afterAll(() => tmp.cleanup());

  it('installs; the commands run from the installed tree and report the version; the configs check', () => {
    first = buildDeb({ repoRoot: REPO_ROOT, outDir: path.join(tmp.dir, 'out'), compression: 'none' });
    const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(path.basename(first.file)).toBe(`ffkeeper_${version}_all.deb`);
    const control = must('dpkg-deb', ['--field', first.file, 'Package', 'Version', 'Architecture', 'Depends']);
    console.log(`${path.basename(first.file)}: ${first.files} files, ${(first.installedKiB / 1024).toFixed(1)} MiB installed\n${control}`);
    expect(control).toContain('Depends: nodejs (>= 20), restic');
    expect(must('dpkg-deb', ['--info', first.file])).toMatch(/conffiles[\s\S]*postinst[\s\S]*postrm[\s\S]*prerm/);

    for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers']) mkdirSync(path.join(root, d), { recursive: true });
    writeFileSync(path.join(root, 'var/lib/dpkg/status'), '');
    writeFileSync(path.join(root, 'var/lib/dpkg/available'), '');
    dpkg('-i', first.file);
    expect(must('dpkg', [`--root=${root}`, '-l', 'ffkeeper'])).toMatch(new RegExp(`^ii\\s+ffkeeper\\s+${version.replace(/\./g, '\\.')}`, 'm'));
    for (const cmd of ['ffkeeper', 'ffkeeper-agent', 'ffkeeper-controller']) {
      expect(must(path.join(root, 'usr/bin', cmd), ['--version'])).toBe(version);
    }
    // Each command starts node with its bin's options (deploy/node-flags.ts), through the wrapper and the bin's own #! line.
    for (const [cmd, flags] of Object.entries(NODE_FLAGS)) {
      expect(readFileSync(path.join(root, 'usr/bin', cmd), 'utf8')).toContain(`exec node ${flags.join(' ')} "`);
      expect(readFileSync(path.join(root, 'usr/lib/ffkeeper/dist/bin', `${cmd}.mjs`), 'utf8').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${flags.join(' ')}`);
    }
    // Nothing of this checkout is on the installed commands' module path.
    expect(must(path.join(root, 'usr/bin/ffkeeper'), ['--help'])).toContain('snapshot');
    expect(existsSync(path.join(root, 'usr/lib/ffkeeper/node_modules/@grpc/grpc-js'))).toBe(true);
    expect(existsSync(path.join(root, 'usr/lib/ffkeeper/node_modules/vitest'))).toBe(false);
    console.log(must(path.join(root, 'usr/bin/ffkeeper-agent'), ['--config', path.join(root, 'etc/ffkeeper/agent.yaml'), '--check-config']));
    console.log(must(path.join(root, 'usr/bin/ffkeeper-controller'), ['--config', path.join(root, 'etc/ffkeeper/controller.yaml'), '--check-config']));
    const broken = path.join(tmp.dir, 'broken.yaml');
    writeFileSync(broken, 'site: msk-1\nhost: db\ngrpc: { listen: nowhere }\n');
    const refused = run(path.join(root, 'usr/bin/ffkeeper-agent'), ['--config', broken, '--check-config']);
    expect(refused.code).toBe(2);
    expect(refused.out).toContain('grpc.listen');
    // The bins' V8 code cache (scripts/bin-loader.cjs): written under /var/cache/ffkeeper (purge removes it), not among the package's files.
    const codeCache = readdirSync(path.join(root, 'var/cache/ffkeeper/code'));
    for (const cmd of ['ffkeeper', 'ffkeeper-agent', 'ffkeeper-controller']) expect(codeCache.some((f) => f.startsWith(`${cmd}.cjs.`) && f.endsWith('.v8-cache')), cmd).toBe(true);
    expect(readdirSync(path.join(root, 'usr/lib/ffkeeper/dist/bin')).filter((f) => f.endsWith('.v8-cache'))).toEqual([]);
  });

  it('systemd-analyze verify accepts both units against the installed tree', () => {
    // The clean root has no systemd of its own: the units' targets (multi-user, network-online) come from this machine.
    cpSync('/lib/systemd/system', path.join(root, 'lib/systemd/system'), { recursive: true, force: false, errorOnExist: false });
    const r = run('systemd-analyze', ['verify', `--root=${root}`, '/lib/systemd/system/ffkeeper-agent.service', '/lib/systemd/system/ffkeeper-controller.service']);
    expect(r, r.out).toEqual({ code: 0, out: '' });
    const unit = readFileSync(path.join(root, 'lib/systemd/system/ffkeeper-controller.service'), 'utf8');
    expect(unit).toMatch(/^User=ffkeeper$/m);
    expect(unit).toMatch(/^ProtectSystem=strict$/m);
  });

  it('an upgrade keeps an edited conffile and replaces the code; purge removes code and configs, not /var/lib/ffkeeper', () => {
    const edited = path.join(root, 'etc/ffkeeper/agent.yaml');
    writeFileSync(edited, `${readFileSync(edited, 'utf8')}# edited by the operator\n`);
    const next = buildDeb({ repoRoot: REPO_ROOT, outDir: path.join(tmp.dir, 'out'), compression: 'none', version: `${first.version}+1` });
    dpkg('-i', next.file);
    expect(must('dpkg', [`--root=${root}`, '-l', 'ffkeeper'])).toContain(`${first.version}+1`);
    expect(readFileSync(edited, 'utf8')).toContain('# edited by the operator');
    mkdirSync(path.join(root, 'var/lib/ffkeeper/repositories'), { recursive: true });
    dpkg('--purge', 'ffkeeper');
    expect(existsSync(path.join(root, 'usr/lib/ffkeeper'))).toBe(false);
    expect(existsSync(path.join(root, 'usr/bin/ffkeeper'))).toBe(false);
    expect(existsSync(edited)).toBe(false);
    expect(existsSync(path.join(root, 'var/cache/ffkeeper'))).toBe(false);
    expect(existsSync(path.join(root, 'var/lib/ffkeeper/repositories'))).toBe(true);
  });
});
