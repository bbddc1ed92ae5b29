/**
 * `ffkeeper-agent discover`: prints (and with `--write`, writes) the agent config for the FindFace
 * components found on this host — or under `--root` — with where each value came from, each guess
 * marked and each file looked for and missing named. Exit 0 when anything usable was found, else 3
 * (NOT_FOUND) with the report (files read, missing, unparsable) on stderr; `--write` onto an existing file without `--force`: 4.
 */
import { linkSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConflictError, NotFoundError } from '../shared/errors.js';
import { FsHostTree } from './adapters/fs-host-tree.js';
import { discover, parseParts, type Discovery } from './domain/discover/discover.js';
import { discoveryHeader, renderDiscovery } from './domain/discover/render.js';

export interface DiscoverCliOptions {
  root?: string;
  write?: string;
  force?: boolean;
  site?: string;
  host?: string;
  /** `postgres,tarantool,...` (discover.ts DISCOVER_PARTS). */
  components?: string;
  /** `nats://a:4222,nats://b:4222`. */
  nats?: string;
  tlsDir?: string;
}

export interface DiscoverIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  hostName?: string;
}

/**
 * Writes `text` to `file` atomically: a temp file beside it, then a rename (`force`) or a hard link, which
 * fails if the file exists — so an existing config is never overwritten by accident, even in a race.
 */
export function writeConfigAtomically(file: string, text: string, force: boolean): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o640, flag: 'wx' });
  try {
    if (force) renameSync(tmp, file);
    else linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ConflictError(`${file} exists: not overwritten (--force replaces it)`, { cause: err });
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Runs discovery and prints or writes its config; NotFoundError when nothing usable was found. */
export function runDiscover(o: DiscoverCliOptions, io: DiscoverIo): Discovery {
  const root = path.resolve(o.root ?? '/');
  const d = discover(new FsHostTree(root), {
    hostName: io.hostName ?? os.hostname(),
    ...(o.site ? { site: o.site } : {}),
    ...(o.host ? { host: o.host } : {}),
    ...(o.components ? { parts: parseParts(o.components) } : {}),
    ...(o.nats ? { nats: o.nats.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
    ...(o.tlsDir ? { tlsDir: o.tlsDir } : {}),
  });
  if (d.found.length === 0) {
    io.stderr(`${discoveryHeader(d, root).map((l) => `#${l}`).join('\n')}\n`);
    const looked = d.report.missing.length > 0 ? `; not found: ${d.report.missing.join(', ')}` : '';
    throw new NotFoundError(`no FindFace component found under ${root}${looked}`);
  }
  const text = renderDiscovery(d, root);
  if (o.write) {
    writeConfigAtomically(o.write, text, o.force ?? false);
    io.stderr(`wrote ${o.write} (${d.config.components.length} component(s); check the "guess:" lines)\n`);
  }
  io.stdout(text);
  return d;
}
