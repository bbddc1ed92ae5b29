/**
 * The Debian package (issue 19): `npm run package` → `ffkeeper_<version>_all.deb`.
 *
 * Contents (nothing is compiled for an architecture: the code and its production dependencies are
 * JavaScript):
 * - `/usr/lib/ffkeeper/`: the built code the daemons and the CLI need (`dist/bin`, the bins bundled by
 *   scripts/bundle.mjs, which the wrappers run; `dist/agent`, `dist/controller` with the console's browser
 *   code, `dist/shared`, `dist/proto`), `package.json`, and the production
 *   dependencies (`npm ls --omit=dev`, copied from `node_modules` as installed: no network);
 * - `/usr/bin/ffkeeper`, `ffkeeper-agent`, `ffkeeper-controller`: shell wrappers running them with `node`;
 * - `/lib/systemd/system/ffkeeper-agent.service`, `ffkeeper-controller.service` (deploy/systemd/, hardened);
 * - `/etc/ffkeeper/agent.yaml`, `controller.yaml` (deploy/examples/), conffiles: an edited one is kept on
 *   upgrade;
 * - maintainer scripts: the `ffkeeper` system user (the controller's), `daemon-reload` and a restart of the
 *   units that run on upgrade, a stop on removal. Units are not enabled on install (they need a config
 *   and certificates first). Purge removes the configs and the cache, never `/var/lib/ffkeeper` (the
 *   controller's local repositories may be there). With `DPKG_ROOT` set (an install into another root,
 *   `dpkg --root … --force-script-chrootless`), the scripts touch nothing outside it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ValidationError } from '../../shared/errors.js';
import { nodeFlagsFor } from '../node-flags.js';

export const PACKAGE = 'ffkeeper';

export interface DebOptions {
  /** The repository root: package.json, dist/ (built), node_modules/ (installed), deploy/. */
  repoRoot: string;
  /** Where the .deb is written. */
  outDir: string;
  /** The Debian version (default: package.json's version). */
  version?: string;
  /** dpkg-deb's compressor: xz (default, the release) or none (fast, for tests). */
  compression?: 'xz' | 'gzip' | 'none';
  /** Where the package tree is staged (default: `<outDir>/.stage-<version>`; removed afterwards). */
  stageDir?: string;
}

export interface DebResult {
  file: string;
  version: string;
  /** Installed size, KiB (as dpkg reports it). */
  installedKiB: number;
  files: number;
}

/** What the built code must hold: one file of each part the package runs. */
const REQUIRED_BUILD = ['dist/bin/ffkeeper-agent.mjs', 'dist/bin/ffkeeper-controller.mjs', 'dist/bin/ffkeeper.mjs', 'dist/controller/console/web/app.js'];
const DIST_PARTS = ['bin', 'agent', 'controller', 'shared', 'proto'];
const BINARIES = {
  ffkeeper: 'dist/bin/ffkeeper.mjs',
  'ffkeeper-agent': 'dist/bin/ffkeeper-agent.mjs',
  'ffkeeper-controller': 'dist/bin/ffkeeper-controller.mjs',
} as const;
const CONFFILES = { 'agent.yaml': 'deploy/examples/agent.yaml', 'controller.yaml': 'deploy/examples/controller.yaml' } as const;
const UNITS = ['ffkeeper-agent.service', 'ffkeeper-controller.service'];
/** Files of a module's repository, not of the module (lintian flags them; the code does not need them). */
const MODULE_CLUTTER = /^(\.npmignore|\.eslintrc(\..*)?|\.gitattributes|\.github|\.editorconfig|\.prettierrc(\..*)?|\.travis\.yml|.*\.html)$/;
/** Debian versions: digits first, then what policy allows (no epoch here). */
const VERSION_RE = /^[0-9][A-Za-z0-9.+~-]*$/;

function run(file: string, args: string[], cwd?: string): string {
  const r = spawnSync(file, args, { encoding: 'utf8', cwd, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`${file} ${args.join(' ')} failed: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} failed (exit ${r.status ?? r.signal}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** Directories (relative to the repository) of every production dependency, as npm installed them. */
export function productionModules(repoRoot: string): string[] {
  const out = run('npm', ['ls', '--omit=dev', '--all', '--parseable'], repoRoot);
  const root = path.resolve(repoRoot);
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && path.resolve(l) !== root)
    .map((l) => path.relative(root, l))
    .filter((rel) => rel.startsWith('node_modules'))
    .sort();
}

function wrapper(name: string, target: string): string {
  return [
    '#!/bin/sh',
    `# ${name} (package ${PACKAGE}): runs the built code with the system's node (nodejs >= 20)`,
    'here=$(dirname "$(readlink -f "$0")")',
    // The bins' V8 code cache (scripts/bin-loader.cjs) goes where a purge removes it, not into the package's files.
    `FFK_CODE_CACHE_DIR="\${FFK_CODE_CACHE_DIR:-$here/../../var/cache/${PACKAGE}/code}"; export FFK_CODE_CACHE_DIR`,
    `exec node ${nodeFlagsFor(target).map((f) => `${f} `).join('')}"$here/../lib/${PACKAGE}/${target}" "$@"`,
    '',
  ].join('\n');
}

const POSTINST = `#!/bin/sh
# postinst of ${PACKAGE}: the controller's system user; on upgrade, restart the units that run.
set -e
if [ "$1" = configure ]; then
  if [ -z "\${DPKG_ROOT:-}" ]; then
    if ! getent passwd ${PACKAGE} >/dev/null; then
      adduser --system --group --home /var/lib/${PACKAGE} --no-create-home --quiet ${PACKAGE}
    fi
    if [ -d /run/systemd/system ]; then
      systemctl daemon-reload >/dev/null || true
      if [ -n "$2" ]; then
        systemctl try-restart ffkeeper-agent.service ffkeeper-controller.service >/dev/null || true
      fi
    fi
  fi
fi
exit 0
`;

const PRERM = `#!/bin/sh
# prerm of ${PACKAGE}: stop the daemons before their code goes (not on upgrade: postinst restarts them).
set -e
if [ "$1" = remove ] && [ -z "\${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
  systemctl stop ffkeeper-agent.service ffkeeper-controller.service >/dev/null 2>&1 || true
fi
exit 0
`;

const POSTRM = `#!/bin/sh
# postrm of ${PACKAGE}: purge removes the cache; /var/lib/${PACKAGE} (the controller's state, maybe its
# local repositories) is kept: remove it by hand when it is no longer wanted.
set -e
if [ "$1" = purge ]; then
  rm -rf "\${DPKG_ROOT:-}/var/cache/${PACKAGE}"
fi
if [ -z "\${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
`;

function copyright(): string {
  return [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    `Upstream-Name: ${PACKAGE}`,
    '',
    'Files: *',
    'Copyright: the ffkeeper authors',
    'License: proprietary',
    ' Internal tool of the operations team; not for redistribution.',
    '',
    'Files: usr/lib/ffkeeper/node_modules/*',
    'Copyright: their respective authors (see each package.json)',
    'License: various-free',
    ' Each module carries its own license file (MIT, Apache-2.0, ISC, BSD).',
    '',
  ].join('\n');
}

function changelog(version: string): string {
  return [
    `${PACKAGE} (${version}) unstable; urgency=medium`,
    '',
    '  * Built by npm run package.',
    '',
    ` -- ffkeeper team <ffkeeper@example.invalid>  ${new Date().toUTCString().replace('GMT', '+0000')}`,
    '',
  ].join('\n');
}

/** The staged tree's size (KiB, as dpkg's Installed-Size counts it) and number of files, in one walk. */
function measureTree(dir: string): { kib: number; files: number } {
  let bytes = 0;
  let files = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        files += 1;
        bytes += statSync(p).size;
      }
    }
  };
  walk(dir);
  return { kib: Math.ceil(bytes / 1024), files };
}

/** Stages the package tree and builds the .deb with dpkg-deb (files owned by root). */
export function buildDeb(opts: DebOptions): DebResult {
  const repoRoot = path.resolve(opts.repoRoot);
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string; description?: string };
  const version = opts.version ?? pkg.version;
  if (!VERSION_RE.test(version)) throw new ValidationError(`version '${version}' is not a Debian version (digits first, then letters, digits, . + ~ -)`, { field: 'version' });
  for (const f of REQUIRED_BUILD) {
    if (!existsSync(path.join(repoRoot, f))) throw new ValidationError(`${f} is missing: build first (npm run build)`, { field: 'dist' });
  }
  mkdirSync(opts.outDir, { recursive: true });
  const stage = opts.stageDir ?? path.join(opts.outDir, `.stage-${version}`);
  rmSync(stage, { recursive: true, force: true });
  try {
    const lib = path.join(stage, 'usr/lib', PACKAGE);
    for (const part of DIST_PARTS) cpSync(path.join(repoRoot, 'dist', part), path.join(lib, 'dist', part), { recursive: true, filter: (src) => !src.endsWith('.test.js') && !src.endsWith('.map') && !src.endsWith('.v8-cache') && !path.basename(src).startsWith('ffkeeper-devsite') });
    writeFileSync(path.join(lib, 'package.json'), `${JSON.stringify({ name: PACKAGE, version: pkg.version, type: 'module', private: true }, null, 2)}\n`);
    for (const rel of productionModules(repoRoot)) cpSync(path.join(repoRoot, rel), path.join(lib, rel), { recursive: true, dereference: false, filter: (src) => !MODULE_CLUTTER.test(path.basename(src)) });
    for (const target of Object.values(BINARIES)) chmodSync(path.join(lib, target), 0o755); // each starts with #!/usr/bin/env node

    const bin = path.join(stage, 'usr/bin');
    mkdirSync(bin, { recursive: true });
    for (const [name, target] of Object.entries(BINARIES)) {
      writeFileSync(path.join(bin, name), wrapper(name, target));
      chmodSync(path.join(bin, name), 0o755);
    }
    const units = path.join(stage, 'lib/systemd/system');
    mkdirSync(units, { recursive: true });
    for (const u of UNITS) cpSync(path.join(repoRoot, 'deploy/systemd', u), path.join(units, u));
    const etc = path.join(stage, 'etc', PACKAGE);
    mkdirSync(etc, { recursive: true });
    for (const [name, src] of Object.entries(CONFFILES)) {
      cpSync(path.join(repoRoot, src), path.join(etc, name));
      chmodSync(path.join(etc, name), 0o644);
    }
    const doc = path.join(stage, 'usr/share/doc', PACKAGE);
    mkdirSync(doc, { recursive: true });
    writeFileSync(path.join(doc, 'copyright'), copyright());
    writeFileSync(path.join(doc, 'changelog.gz'), gzipSync(changelog(version), { level: 9 }));

    const { kib: installedKiB, files } = measureTree(stage);
    const debian = path.join(stage, 'DEBIAN');
    mkdirSync(debian, { recursive: true });
    const description = (pkg.description ?? 'FindFace fleet backup').replace(/\.$/, '');
    writeFileSync(
      path.join(debian, 'control'),
      [
        `Package: ${PACKAGE}`,
        `Version: ${version}`,
        'Architecture: all',
        'Maintainer: ffkeeper team <ffkeeper@example.invalid>',
        `Installed-Size: ${installedKiB}`,
        'Depends: nodejs (>= 20), restic, adduser',
        'Recommends: nats-server',
        'Section: admin',
        'Priority: optional',
        `Description: ${description.length > 80 ? 'FindFace fleet backup, restore, verification and sync' : description}`,
        ' Agents on every FindFace host (sf-api, Tarantool shards, PostgreSQL, upload',
        ' nodes) and a central controller: cluster-wide consistent snapshots into',
        ' restic repositories, restores, schedules, retention, verification and',
        ' watch-list sync between sites. The ffkeeper CLI drives the controller.',
        '',
      ].join('\n'),
    );
    writeFileSync(path.join(debian, 'conffiles'), Object.keys(CONFFILES).map((n) => `/etc/${PACKAGE}/${n}`).join('\n') + '\n');
    for (const [name, text] of Object.entries({ postinst: POSTINST, prerm: PRERM, postrm: POSTRM })) {
      writeFileSync(path.join(debian, name), text);
      chmodSync(path.join(debian, name), 0o755);
    }
    const file = path.join(path.resolve(opts.outDir), `${PACKAGE}_${version}_all.deb`);
    run('dpkg-deb', ['--root-owner-group', `-Z${opts.compression ?? 'xz'}`, '--build', stage, file]);
    return { file, version, installedKiB, files };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
