/**
 * Real hosts on one machine (issue 16): each named host gets its own Linux network namespace, joined to a
 * bridge in the root namespace by a veth pair, with an address in a private /24 of its own. Processes
 * started in a namespace (`ip netns exec`; the tests' `runProcess(..., { netns })`, `startNats({ host,
 * netns })`) listen on and dial real addresses across real interfaces: a connection between two hosts
 * leaves one namespace's `eth0` and enters the other's. The root namespace holds the subnet's `.1` on the
 * bridge, so it reaches every host, and every host reaches it (its default route).
 *
 * Two lifetimes:
 * - the tests' (default): names carry this process's pid — `ffk<pid>x<n>` for the bridge (`…b`), the
 *   root-side veths (`…v<i>`) and the namespaces (`…-<host>`) — so parallel vitest workers never collide,
 *   everything goes when the process exits, and a later run removes what a dead one left behind;
 * - the demo's (`{ tag }`): fixed names under the given tag, outliving the process that made them (the
 *   demo runs on in the background), removed by `removeHosts(tag)` (`npm run demo -- --down`). Tests never
 *   take such names for leftovers.
 *
 * Needs root (`ip netns`, veth, bridges). Every `ip` failure throws naming the command and its stderr.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface NetnsHosts<H extends string = string> {
  /** Every name this call created starts with it: `ffk<pid>x<n>`. */
  readonly tag: string;
  /** The private subnet, e.g. `10.213.7.0/24`. */
  readonly subnet: string;
  /** The root namespace's address on the bridge (`.1`): the hosts' default gateway. */
  readonly gateway: string;
  /** The bridge in the root namespace. */
  readonly bridge: string;
  readonly hosts: readonly H[];
  /** The host's address (IPv4, no port). */
  address(host: H): string;
  /** The host's network namespace, for `ip netns exec` / `runProcess(..., { netns })`. */
  netnsOf(host: H): string;
  /** Pids of the processes running in the host's namespace. */
  pids(host: H): number[];
  /**
   * SIGKILLs every process left in the namespaces, deletes the veths, the bridge and the namespaces.
   * Idempotent; also run when the process exits. Throws (after trying everything) when something stays.
   */
  cleanup(): void;
}

/** Linux's limit on interface names (IFNAMSIZ - 1). */
const IFNAME_MAX = 15;
const PREFIX = 'ffk';
/** `ffk<pid>x<n>` followed by `b` (bridge), `v<i>` (root-side veth) or `-<host>` (namespace); n and i in decimal. */
const NAME_RE = /^(ffk(\d+)x\d+)(?:b|v\d+|-[a-z0-9-]+)$/;
const BRIDGE_RE = /^ffk\d+x\d+b$/;
/** Candidate subnets: 10.200.0.0/24 … 10.249.255.0/24. */
const SUBNETS = 50 * 256;

let counter = 0;
/** Cleanups of the calls not cleaned up yet, run when the process exits. */
const live = new Map<string, () => void>();
let exitHookInstalled = false;

/** Runs `ip ARGS`; returns stdout or throws naming the command, its exit status and stderr. */
export function ip(args: string[]): string {
  return run('ip', args);
}

/** Runs `file ARGS` inside network namespace `netns` (`ip netns exec`); returns stdout or throws naming the command and stderr. */
export function execIn(netns: string, file: string, args: string[]): string {
  return run('ip', ['netns', 'exec', netns, file, ...args]);
}

function run(file: string, args: string[]): string {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 60_000 });
  const command = [file, ...args].join(' ');
  if (r.error) throw new Error(`${command} failed: ${r.error.message}`);
  if (r.status !== 0) {
    const how = r.status === null ? `killed by ${r.signal ?? 'a signal'}` : `exit ${r.status}`;
    throw new Error(`${command} failed (${how}): ${r.stderr.trim() || '(nothing on stderr)'}`);
  }
  return r.stdout;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Names of the network namespaces (`ip netns list` prints `name (id: N)` or `name`). */
export function netnsNames(): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** Names of the root namespace's interfaces (`N: name@peer: <...>`). */
export function linkNames(): string[] {
  return ip(['-o', 'link', 'show'])
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter(Boolean);
}

function pidsIn(netns: string): number[] {
  return ip(['netns', 'pids', netns])
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}

/** SIGKILLs every process in `netns` and waits (up to 10 s) until none is left; throws naming the survivors. */
function killAllIn(netns: string): void {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pids = pidsIn(netns);
    if (pids.length === 0) return;
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(', ')} in network namespace ${netns} are still running 10 s after SIGKILL`);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    sleepSync(50);
  }
}

/**
 * Deletes network namespaces and interfaces of this naming scheme whose process is dead (a run that
 * crashed or was killed), or that carry this process's pid but none of its live calls' tags (a dead
 * run's pid, reused).
 */
function removeStale(): void {
  const stale = (name: string): boolean => {
    const m = NAME_RE.exec(name);
    if (!m) return false;
    const [tag, pid] = [m[1] as string, Number(m[2])];
    return pid === process.pid ? !live.has(tag) : !existsSync(`/proc/${pid}`);
  };
  const namespaces = netnsNames().filter(stale);
  for (const ns of namespaces) killAllIn(ns);
  // Root-side veths first (deleting one deletes its peer), then bridges, then the namespaces.
  const links = linkNames().filter(stale);
  for (const link of links.filter((l) => !BRIDGE_RE.test(l))) ip(['link', 'del', link]);
  for (const link of links.filter((l) => BRIDGE_RE.test(l))) ip(['link', 'del', link]);
  for (const ns of namespaces) ip(['netns', 'del', ns]);
  if (namespaces.length + links.length > 0) console.log(`netns harness: removed leftovers of dead runs: ${[...namespaces, ...links].join(', ')}`);
}

/** Whether any address or route of the root namespace lies in 10.a.b.0/24. */
function subnetInUse(a: number, b: number, except?: string): boolean {
  const prefix = `10.${a}.${b}.`;
  const addrs = ip(['-o', '-4', 'addr', 'show'])
    .split('\n')
    .filter((l) => l.includes(`inet ${prefix}`))
    .filter((l) => !except || /^\d+:\s+(\S+)/.exec(l)?.[1] !== except);
  const routes = ip(['-o', '-4', 'route', 'show'])
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .filter((l) => !except || !l.includes(` dev ${except} `));
  return addrs.length > 0 || routes.length > 0;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [tag, cleanup] of [...live]) {
      try {
        cleanup();
      } catch (err) {
        process.stderr.write(`netns harness: cleanup of ${tag} at exit failed: ${(err as Error).message}\n`);
      }
    }
  });
}

/**
 * One network namespace per name, each with `lo` up, `eth0` (a veth into this call's bridge) holding
 * `10.a.b.<2+i>/24`, and a default route via the bridge's `10.a.b.1`. The subnet is unique on this
 * machine: derived from the pid and a counter, skipped when the root namespace already uses it.
 */
export function createHosts<const H extends string>(names: readonly H[], options: { tag?: string } = {}): NetnsHosts<H> {
  if (names.length === 0) throw new Error('createHosts: no host names');
  if (names.length > 200) throw new Error(`createHosts: ${names.length} hosts, at most 200`);
  for (const n of names) if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(n)) throw new Error(`createHosts: host name '${n}' must be lower-case letters, digits and '-'`);
  if (new Set(names).size !== names.length) throw new Error(`createHosts: duplicate host names in ${names.join(', ')}`);
  if (options.tag !== undefined && (!/^[a-z][a-z-]{1,9}$/.test(options.tag) || NAME_RE.test(`${options.tag}b`))) {
    throw new Error(`createHosts: tag '${options.tag}' must be 2-10 lower-case letters or '-' (and not the tests' ffk<pid>x<n>)`);
  }
  removeStale();
  const n = counter++;
  const tag = options.tag ?? `${PREFIX}${process.pid}x${n}`;
  if (options.tag === undefined) installExitHook();
  else if (netnsNames().some((ns) => ns.startsWith(`${tag}-`)) || linkNames().includes(`${tag}b`)) {
    throw new Error(`createHosts: hosts tagged '${tag}' exist already (remove them first: removeHosts('${tag}'))`);
  }
  const bridge = `${tag}b`;
  const veth = (i: number): string => `${tag}v${i}`;
  for (const name of [bridge, veth(names.length - 1)]) {
    if (name.length > IFNAME_MAX) throw new Error(`createHosts: interface name ${name} is longer than ${IFNAME_MAX} characters`);
  }
  const netns = new Map(names.map((h) => [h, `${tag}-${h}`] as const));
  const netnsOf = (host: H): string => {
    const ns = netns.get(host);
    if (!ns) throw new Error(`no host '${host}' (hosts: ${names.join(', ')})`);
    return ns;
  };

  // What this call created, torn down in an order that leaves nothing behind: processes, veths (deleting
  // the root side deletes the peer in the namespace), the bridge, the namespaces.
  const created = { namespaces: new Set<string>(), veths: new Set<string>(), bridge: false };
  let cleaned = false;
  const cleanup = (): void => {
    if (cleaned) return;
    const errors: string[] = [];
    const attempt = (fn: () => void): void => {
      try {
        fn();
      } catch (err) {
        errors.push((err as Error).message);
      }
    };
    // Each item is forgotten once it is gone, so that a cleanup tried again after a failure redoes only the rest.
    const namespaces = new Set(netnsNames());
    const links = new Set(linkNames());
    for (const ns of created.namespaces) if (namespaces.has(ns)) attempt(() => killAllIn(ns));
    for (const v of created.veths) {
      attempt(() => {
        if (links.has(v)) ip(['link', 'del', v]);
        created.veths.delete(v);
      });
    }
    if (created.bridge) {
      attempt(() => {
        if (links.has(bridge)) ip(['link', 'del', bridge]);
        created.bridge = false;
      });
    }
    for (const ns of created.namespaces) {
      attempt(() => {
        if (namespaces.has(ns)) ip(['netns', 'del', ns]);
        created.namespaces.delete(ns);
      });
    }
    if (errors.length > 0) throw new Error(`netns harness: cleanup of ${tag} failed:\n${errors.join('\n')}`);
    cleaned = true;
    live.delete(tag);
  };
  if (options.tag === undefined) live.set(tag, cleanup);

  try {
    // The bridge and its subnet: a candidate derived from the pid and the counter (parallel workers have
    // neighbouring pids, so they start apart), checked against the root namespace before and after the
    // address is taken (two runs choosing at the same moment both see the clash and move on).
    ip(['link', 'add', bridge, 'type', 'bridge']);
    created.bridge = true;
    let index = (process.pid * 64 + n) % SUBNETS;
    let subnet: [number, number] | undefined;
    for (let tries = 0; tries < 100 && !subnet; tries += 1) {
      const [a, b] = [200 + Math.floor(index / 256), index % 256];
      if (!subnetInUse(a, b)) {
        ip(['addr', 'add', `10.${a}.${b}.1/24`, 'dev', bridge]);
        if (!subnetInUse(a, b, bridge)) subnet = [a, b];
        else ip(['addr', 'flush', 'dev', bridge]);
      }
      index = (index + 1 + Math.floor(Math.random() * 97)) % SUBNETS;
    }
    if (!subnet) throw new Error('createHosts: no free 10.200-249.x.0/24 subnet found in 100 tries');
    const [a, b] = subnet;
    const gateway = `10.${a}.${b}.1`;
    ip(['link', 'set', bridge, 'up']);
    const addresses = new Map(names.map((h, i) => [h, `10.${a}.${b}.${i + 2}`] as const));
    const address = (host: H): string => {
      const addr = addresses.get(host);
      if (!addr) throw new Error(`no host '${host}' (hosts: ${names.join(', ')})`);
      return addr;
    };
    names.forEach((host, i) => {
      const ns = netnsOf(host);
      ip(['netns', 'add', ns]);
      created.namespaces.add(ns);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      ip(['link', 'add', veth(i), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      created.veths.add(veth(i));
      ip(['link', 'set', veth(i), 'master', bridge, 'up']);
      ip(['-n', ns, 'addr', 'add', `${address(host)}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', ns, 'route', 'add', 'default', 'via', gateway]);
    });
    return {
      tag,
      subnet: `10.${a}.${b}.0/24`,
      gateway,
      bridge,
      hosts: [...names],
      address,
      netnsOf,
      pids: (host) => pidsIn(netnsOf(host)),
      cleanup,
    };
  } catch (err) {
    try {
      cleanup();
    } catch (cleanupErr) {
      (err as Error).message += `\n(and the cleanup failed too: ${(cleanupErr as Error).message})`;
    }
    throw err;
  }
}

/**
 * Removes hosts made by `createHosts(names, { tag })`, possibly by another process: kills every process
 * in their namespaces, deletes the veths, the bridge and the namespaces. Returns what it removed.
 */
export function removeHosts(tag: string): string[] {
  const namespaces = netnsNames().filter((ns) => ns.startsWith(`${tag}-`));
  const links = linkNames().filter((l) => l === `${tag}b` || new RegExp(`^${tag}v\\d+$`).test(l));
  for (const ns of namespaces) killAllIn(ns);
  for (const link of links.filter((l) => l !== `${tag}b`)) ip(['link', 'del', link]);
  for (const link of links.filter((l) => l === `${tag}b`)) ip(['link', 'del', link]);
  for (const ns of namespaces) ip(['netns', 'del', ns]);
  return [...namespaces, ...links];
}
