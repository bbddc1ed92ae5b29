'use strict';
/**
 * Runs a bundled bin (dist/bin/<name>.cjs, scripts/bundle.mjs) through a V8 code cache: most of a bin's
 * start-up is V8 compiling its few MB of JavaScript, which Node 20 does again at every start (it has no
 * compile cache of its own before Node 22). The first run of a build compiles as usual and, as it exits,
 * stores what V8 compiled (the top level and every function the run called) beside the bundle; later
 * runs hand that to V8 and skip the compile. The cache file's name carries the bundle's content hash, so
 * a rebuilt bundle never meets a cache of another build (V8 itself only checks the source's length);
 * one of another Node or V8 version, or other V8 flags, is rejected by V8 and written again. The cache
 * lives beside the bundle, or in `FFK_CODE_CACHE_DIR` (the Debian package's wrappers: /var/cache/ffkeeper/
 * code, which a purge removes); where that is not writable, the bin runs uncached.
 *
 * Copied to dist/bin/ffk-bin-loader.cjs by scripts/bundle.mjs; each bin's dist/bin/<name>.mjs calls it.
 */
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

/** Runs `dist/bin/<bundle>` (a CommonJS bundle) as the main program, with the cache of content hash `hash`. */
exports.run = function run(bundle, hash) {
  const file = path.join(__dirname, bundle);
  const dir = process.env.FFK_CODE_CACHE_DIR || __dirname;
  const cacheFile = path.join(dir, `${bundle}.${hash}.v8-cache`);
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData });
  if (cachedData === undefined || script.cachedDataRejected) process.once('exit', () => store(script, dir, cacheFile));
  // The bundle carries its dependencies; its require (node's built-ins) resolves from its own path.
  const mod = new Module(file, null);
  mod.filename = file;
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, __dirname);
};

/** Writes the cache atomically (bins start in parallel); a failure only means the next run compiles too. */
function store(script, dir, cacheFile) {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK); // before the serialisation, which costs a few ms
  } catch {
    return;
  }
  try {
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, cacheFile);
  } catch {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing to clean up
    }
  }
}
