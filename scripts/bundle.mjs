#!/usr/bin/env node
/**
 * Bundles each of ffkeeper's bins from dist/ (tsc's output) into one file in dist/bin/: a bin then starts
 * without resolving and reading ~650 modules one by one, which was most of its start-up. Measured on the
 * 2-core dev machine (user+sys CPU of a start): the CLI 0.34 → 0.17 s, the controller 0.59 → 0.27 s, the
 * agent 0.25 → 0.20 s, the dev site's CLI (its unit processes and systemctl shims) 0.31 → 0.19 s. The
 * operator's every `ffkeeper` call is one such start, and the test suite makes hundreds.
 *
 * The bundles carry their dependencies (no node_modules needed beside them); the console's browser code
 * stays in dist/controller/console/web/ (controller/transport/console/assets.ts finds it from either place).
 */
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// The node options of each bin (deploy/node-flags.ts, built by tsc before this runs).
const { NODE_FLAGS } = await import(path.join(ROOT, 'dist/deploy/node-flags.js'));

/**
 * The product's bins: dist/bin/<name>.cjs ← dist/<entry>.js, a CommonJS bundle that dist/bin/<name>.mjs
 * runs through a V8 code cache (scripts/bin-loader.cjs). Measured on a 2-core AMD EPYC (user+sys CPU of
 * one start, the ES module bundle → the cached one): `ffkeeper snapshot list` 0.33 → 0.23 s, the agent's
 * `--help` 0.37 → 0.23 s (a bare `node -e 0`: 0.11 s). `import.meta.url` (version.ts, the console's
 * assets) becomes the bundle's own file URL: the same directory as before.
 */
const CACHED = {
  ffkeeper: 'controller/cli/main',
  'ffkeeper-agent': 'agent/main',
  'ffkeeper-controller': 'controller/main',
};

/** dist/bin/<name>.mjs ← dist/<entry>.js, ES module bundles (the dev site's CLI awaits at its top level). */
const BUNDLES = {
  'ffkeeper-devsite': 'deploy/dev-site/cli',
};

/**
 * The dev site's unit entry point is split at its dynamic imports (chunks beside it, named after it): a
 * `systemctl is-active` shim call, made hundreds of times per test run, then compiles only the shim's code
 * instead of the 1.6 MB of every unit (the writer, sf-api, the extraction-api, the storage-api tools).
 * Measured on a 2-core AMD EPYC (user+sys CPU of one `is-active`): 0.197 → 0.132 s. Its chunks stay in
 * dist/bin/ so that `import.meta.url` points where the unbundled module's siblings are found (self.ts).
 */
const SPLIT = { 'ffkeeper-devsite-unit': 'deploy/dev-site/unit-main' };
const SPLIT_CHUNK_PREFIX = 'ffkeeper-devsite-unit-';

const BIN = path.join(ROOT, 'dist/bin');
const LOADER = 'ffk-bin-loader.cjs';
const common = {
  outdir: BIN,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // CommonJS dependencies (grpc-js, pg, …) call require(): give the ES module bundle one (each chunk too).
  banner: { js: "import { createRequire as ffkCreateRequire } from 'node:module'; const require = ffkCreateRequire(import.meta.url);" },
  logLevel: 'warning',
};
const entries = (bundles) => Object.fromEntries(Object.entries(bundles).map(([name, entry]) => [name, path.join(ROOT, 'dist', `${entry}.js`)]));

// An earlier build's chunks and code caches (their names carry a content hash) would pile up.
if (existsSync(BIN)) {
  for (const f of readdirSync(BIN)) {
    if ((f.startsWith(SPLIT_CHUNK_PREFIX) && f.endsWith('.mjs')) || f.endsWith('.v8-cache') || f.endsWith('.tmp')) rmSync(path.join(BIN, f));
  }
}
await Promise.all([
  build({ ...common, entryPoints: entries(BUNDLES) }),
  build({ ...common, entryPoints: entries(SPLIT), splitting: true, chunkNames: `${SPLIT_CHUNK_PREFIX}[name]-[hash]` }),
  build({
    ...common,
    entryPoints: entries(CACHED),
    format: 'cjs',
    outExtension: { '.js': '.cjs' },
    define: { 'import.meta.url': '__ffkImportMetaUrl' },
    // Strict first, as the ES modules were (a banner ahead of esbuild's own "use strict" would demote it).
    banner: { js: "'use strict'; var __ffkImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  }),
]);
copyFileSync(path.join(ROOT, 'scripts/bin-loader.cjs'), path.join(BIN, LOADER));

// A bin run directly (its #! line) gets its node options too: `env -S` splits them (coreutils ≥ 8.30).
const shebang = (name) => (NODE_FLAGS[name]?.length ? `#!/usr/bin/env -S node ${NODE_FLAGS[name].join(' ')}\n` : '#!/usr/bin/env node\n');
for (const name of Object.keys(CACHED)) {
  const bundle = path.join(BIN, `${name}.cjs`);
  // The loader compiles the bundle as a function body, where a #! line is a syntax error.
  const text = readFileSync(bundle, 'utf8').replace(/^#!.*\n/, '');
  writeFileSync(bundle, text);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const main = [
    shebang(name).trimEnd(),
    `// ${name}: generated by scripts/bundle.mjs; runs ${name}.cjs through a V8 code cache (${LOADER}).`,
    "import { createRequire } from 'node:module';",
    `createRequire(import.meta.url)('./${LOADER}').run('${name}.cjs', '${hash}');`,
    '',
  ].join('\n');
  writeFileSync(path.join(BIN, `${name}.mjs`), main);
  chmodSync(path.join(BIN, `${name}.mjs`), 0o755);
}
for (const name of Object.keys(BUNDLES)) {
  const file = path.join(BIN, `${name}.mjs`);
  const text = readFileSync(file, 'utf8');
  if (!text.startsWith('#!/usr/bin/env node\n')) throw new Error(`${file} does not start with '#!/usr/bin/env node'`);
  writeFileSync(file, `${shebang(name)}${text.slice(text.indexOf('\n') + 1)}`);
}
