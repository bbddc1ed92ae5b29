/**
 * A real nats-server with JetStream on a free port and its own temp store, for one test file, secured as
 * a fleet's is: each agent and the controller connect with their own nkey, with their permissions
 * (shared/security/nats-permissions.ts). The server keeps its own user registry (`registry`, as a CA
 * directory keeps one: shared/security/nats-users.ts): the keys issued for this file's processes, reloaded
 * when one is added — never when another test file issues one (nats-server 2.9 refuses or stalls clients
 * that connect during a reload, and briefly answers JetStream requests with "no responders").
 * `stop()` kills it and removes the directory; `kill()`/`restart()` allow fault injection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NatsConfig } from '../../shared/config/common.js';
import { freePort, waitForPort } from '../../shared/net.js';
import { issueNatsCredentials, natsSeedOf, registerNatsServer, setNatsServerPid, unregisterNatsServer } from '../../shared/security/nats-users.js';
import { identityOfCertificate, type TlsFiles } from '../../shared/security/tls-files.js';
import { execIn } from './netns.js';
import { agentTls, ensureTestPki, TEST_CONTROLLER_ID } from './pki.js';

export interface TestNats {
  url: string;
  /** Every node's client URL (one for a single server). */
  urls: string[];
  /** A cluster's nodes (startNatsCluster), for fault injection. */
  nodes: TestNatsNode[];
  port: number;
  /** The monitoring endpoint, `host:port` (`http://<monitor>/connz` lists the connections and their addresses). */
  monitor: string;
  /** The configuration file the server runs. */
  configFile: string;
  /** The last lines of the server's log (every node's, for a cluster), for a failure's message: its directory goes with stop(). */
  logTail(): string;
  /** Where its users are kept (pass it to upSite's `natsRegistry`, or revoke from it). */
  registry: string;
  /** `nats` config of a process whose TLS files are `tls`: a new key of the certificate's identity, its seed beside them. */
  client(tls: TlsFiles): Promise<NatsConfig>;
  /** A new certificate and NATS seed of agent `site/host`: its config's `tls` and `nats`. */
  agent(site: string, host: string): Promise<{ tls: TlsFiles; nats: NatsConfig }>;
  /** `nats` config of the test CA's controller (`controller-1`): every subject allowed. */
  controller(): NatsConfig;
  /** Stops the server (SIGKILL) but keeps its store, so `restart()` brings the same state back. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** One nats-server of a cluster. */
export interface TestNatsNode {
  name: string;
  url: string;
  /** The monitoring endpoint, `host:port`. */
  monitor: string;
  /** SIGKILL; the store stays for `restart()`. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** Started by the test and not killed by it (it may have ended by itself: see `alive`). */
  running(): boolean;
  /** Its process is running now. */
  alive(): boolean;
  /** The last lines of its log (all its starts). */
  logTail(): string;
}

export interface StartNatsOptions {
  /** The address the server listens on, clients and monitoring both (default 127.0.0.1). */
  host?: string;
  /**
   * Run the server inside this network namespace (test/harness/netns.ts), listening on `host` — the
   * namespace's own address, which the root namespace reaches (the CA registry reloads the server and
   * watches its monitoring endpoint from there).
   */
  netns?: string;
  /** A registry to keep the users in instead of the server's own (a fleet CA directory: enrolment tests). */
  registry?: string;
}

/** Two TCP ports free at `host` inside `netns` a moment ago (the namespace's OS picks them). */
function freePortsIn(netns: string, host: string): [number, number] {
  const script = `const net=require('node:net');const a=net.createServer().listen(0,${JSON.stringify(host)},()=>{const b=net.createServer().listen(0,${JSON.stringify(host)},()=>{console.log(a.address().port,b.address().port);a.close();b.close();});});`;
  const [a, b] = execIn(netns, process.execPath, ['-e', script]).trim().split(/\s+/).map(Number);
  if (!a || !b) throw new Error(`could not find free ports at ${host} in network namespace ${netns}`);
  return [a, b];
}

/** How this file's processes get their `nats` config: a new key issued in `caDir` for each, every server URL. */
function credentials(caDir: string, servers: string[], controllerSeed: string): Pick<TestNats, 'client' | 'agent' | 'controller'> {
  return {
    async client(tls) {
      const identity = identityOfCertificate(readFileSync(tls.cert));
      if (!identity) throw new Error(`${tls.cert} carries no ffkeeper identity`);
      return { servers, seedFile: await issueNatsCredentials(caDir, identity, natsSeedOf(tls)) };
    },
    async agent(site, host) {
      const tls = await agentTls(site, host);
      return { tls, nats: { servers, seedFile: await issueNatsCredentials(caDir, { kind: 'agent', site, host }, natsSeedOf(tls)) } };
    },
    controller: () => ({ servers, seedFile: controllerSeed }),
  };
}

/** A nats-server ended before it listened (e.g. a port taken by another process meanwhile). */
class NodeExitedError extends Error {}

/** How to start one nats-server (spawnNatsServer). */
interface ServerSpawn {
  configFile: string;
  /** The client port it must listen on. */
  port: number;
  label: string;
  /** Its log (stderr) is appended here; the file outlives the process, so a node that ends later can be told apart. */
  logFile: string;
  /** A cluster node's monitoring endpoint and server name: the server answering there must name itself so. */
  identity?: { monitor: string; serverName: string };
}

/**
 * Starts `nats-server -c configFile` and resolves once it listens on `port`; a server that ends first
 * rejects at once with NodeExitedError and its log (not after the whole wait). `onSpawn` gets the
 * process before the wait (its pid is recorded for reloads). With `identity`, a server on the monitoring
 * port that names itself otherwise is another process on a port taken while the node was down: a
 * NodeExitedError too (ours ends on the taken port).
 */
async function spawnNatsServer({ configFile, port, label, logFile, identity }: ServerSpawn, onSpawn: (c: ChildProcess) => Promise<void>): Promise<void> {
  const log = openSync(logFile, 'a');
  const c = spawn('nats-server', ['-c', configFile], { stdio: ['ignore', 'ignore', log] });
  closeSync(log);
  const ended = new Promise<never>((_, reject) =>
    c.once('exit', (code, signal) => reject(new NodeExitedError(`nats-server ${label} ended (${signal ?? `code ${code}`}) before listening on 127.0.0.1:${port}: ${logTail(logFile)}`))),
  );
  ended.catch(() => undefined); // once listening, a later end (kill) is not an error of this call
  await onSpawn(c);
  await Promise.race([waitForPort(port, undefined, 60_000), ended]);
  if (!identity) return;
  // The monitoring endpoint listens before the client port does; a busy machine may still refuse a try.
  const ask = (): Promise<string | undefined> =>
    fetch(`http://${identity.monitor}/varz`).then(async (r) => ((await r.json()) as { server_name?: string }).server_name, (err: unknown) => `none (${String(err)})`);
  let name = await Promise.race([ask(), ended]);
  for (let i = 0; i < 20 && name !== identity.serverName && c.exitCode === null; i += 1) {
    await new Promise((r) => setTimeout(r, 250));
    name = await Promise.race([ask(), ended]);
  }
  if (name !== identity.serverName) {
    throw new NodeExitedError(`nats-server ${label}: the server on ${identity.monitor} is ${name}, not ${identity.serverName} (a port taken by another process while it was down?): ${logTail(logFile)}`);
  }
}

/** The last lines of a nats-server's log, for an error. */
function logTail(logFile: string, lines = 12): string {
  try {
    return readFileSync(logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * `start()`, made again (up to 3 times) while a server it starts ends before it listens: a port another
 * process took after it was picked (a run waited 60 s for a node that had ended at once; another lost
 * a file to a monitor port taken meanwhile).
 */
async function onFreshPorts(what: string, start: () => Promise<TestNats>): Promise<TestNats> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 3 || !(err instanceof NodeExitedError)) throw err;
      console.warn(`${err.message}; starting ${what} again on other ports`);
    }
  }
}

export function startNats(options: StartNatsOptions = {}): Promise<TestNats> {
  return onFreshPorts('nats-server', () => startNatsOnce(options));
}

async function startNatsOnce(options: StartNatsOptions): Promise<TestNats> {
  const { host: bindHost = '127.0.0.1', netns } = options;
  await ensureTestPki();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-nats-'));
  const caDir = options.registry ?? dir;
  const [port, monitor] = netns ? freePortsIn(netns, bindHost) : [await freePort(bindHost), await freePort(bindHost)];
  const name = `test-${process.pid}-${port}${netns ? `-${netns}` : ''}`;
  const configFile = path.join(dir, 'nats-server.conf');
  await registerNatsServer(caDir, { name, configFile, listen: `${bindHost}:${port}`, monitor: `${bindHost}:${monitor}`, storeDir: path.join(dir, 'js') });
  // The controller's key, before the server starts (nothing to reload yet).
  const controllerSeed = options.registry ? path.join(options.registry, 'controller.nk') : path.join(dir, 'controller.nk');
  if (!options.registry) await issueNatsCredentials(caDir, { kind: 'controller', id: TEST_CONTROLLER_ID }, controllerSeed);
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    if (netns) {
      // `ip netns exec` execs nats-server; its pid is recorded once it listens, so that a reload (SIGHUP)
      // never reaches the `ip` process before the exec.
      child = spawn('ip', ['netns', 'exec', netns, 'nats-server', '-c', configFile], { stdio: 'ignore' });
      await waitForPort(port, bindHost, 60_000);
      await setNatsServerPid(caDir, name, child.pid as number);
      return;
    }
    await spawnNatsServer({ configFile, port, label: name, logFile: path.join(dir, 'nats-server.log') }, async (c) => {
      child = c;
      await setNatsServerPid(caDir, name, c.pid as number);
    });
  };
  try {
    await launch();
  } catch (err) {
    unregisterNatsServer(caDir, name);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const kill = async (): Promise<void> => {
    if (!child) return;
    const c = child;
    child = undefined;
    c.kill('SIGKILL');
    await exited(c);
  };
  const url = `nats://${bindHost}:${port}`;
  return {
    url,
    urls: [url],
    nodes: [],
    port,
    monitor: `${bindHost}:${monitor}`,
    configFile,
    registry: caDir,
    logTail: () => (netns ? '(a server in a network namespace logs nowhere)' : logTail(path.join(dir, 'nats-server.log'))),
    ...credentials(caDir, [url], controllerSeed),
    kill,
    restart: launch,
    async stop() {
      unregisterNatsServer(caDir, name);
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A cluster of `size` nats-servers on loopback (routes authenticated with the registry's route secret),
 * JetStream on each, secured as startNats's: the controller's and agents' configs list every node. Its
 * nine ports are picked free, but another test's process can take one before its node binds it (a run
 * waited 60 s for a node that had ended at once): then the cluster is made again on fresh ports.
 */
export function startNatsCluster(size = 3): Promise<TestNats> {
  return onFreshPorts('the NATS cluster', () => startNatsClusterOnce(size));
}

async function startNatsClusterOnce(size: number): Promise<TestNats> {
  await ensureTestPki();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-natsc-'));
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), monitor: await freePort(), route: await freePort() })));
  const controllerSeed = path.join(dir, 'controller.nk');
  await issueNatsCredentials(dir, { kind: 'controller', id: TEST_CONTROLLER_ID }, controllerSeed);
  const nodes: TestNatsNode[] = [];
  const names: string[] = [];
  for (const [i, p] of ports.entries()) {
    const name = `test-${process.pid}-${p.client}-n${i + 1}`;
    names.push(name);
    const configFile = path.join(dir, `${name}.conf`);
    const logFile = path.join(dir, `${name}.log`);
    const routes = ports.filter((_, j) => j !== i).map((o) => `127.0.0.1:${o.route}`);
    await registerNatsServer(dir, {
      name,
      configFile,
      listen: `127.0.0.1:${p.client}`,
      monitor: `127.0.0.1:${p.monitor}`,
      storeDir: path.join(dir, `js-${i + 1}`),
      cluster: { serverName: `n${i + 1}`, name: 'ffk-test', listen: `127.0.0.1:${p.route}`, routes },
    });
    let child: ChildProcess | undefined;
    const node: TestNatsNode = {
      name,
      url: `nats://127.0.0.1:${p.client}`,
      monitor: `127.0.0.1:${p.monitor}`,
      async kill() {
        if (!child) return;
        const c = child;
        child = undefined;
        c.kill('SIGKILL');
        await exited(c);
      },
      async restart() {
        const identity = { monitor: `127.0.0.1:${p.monitor}`, serverName: `n${i + 1}` };
        await spawnNatsServer({ configFile, port: p.client, label: name, logFile, identity }, async (c) => {
          child = c;
          await setNatsServerPid(dir, name, c.pid as number);
        });
      },
      running: () => child !== undefined,
      alive: () => child !== undefined && child.exitCode === null && child.signalCode === null,
      logTail: () => logTail(logFile),
    };
    nodes.push(node);
  }
  try {
    await Promise.all(nodes.map((n) => n.restart()));
  } catch (err) {
    for (const n of names) unregisterNatsServer(dir, n);
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const urls = nodes.map((n) => n.url);
  return {
    url: urls[0] as string,
    urls,
    nodes,
    port: ports[0]?.client as number,
    monitor: nodes[0]?.monitor as string,
    configFile: path.join(dir, `${names[0]}.conf`),
    registry: dir,
    logTail: () => nodes.map((n) => `--- nats ${n.name}:\n${n.logTail()}`).join('\n'),
    ...credentials(dir, urls, controllerSeed),
    kill: async () => {
      await Promise.all(nodes.map((n) => n.kill()));
    },
    restart: async () => {
      await Promise.all(nodes.map((n) => n.restart()));
    },
    async stop() {
      for (const n of names) unregisterNatsServer(dir, n);
      await Promise.all(nodes.map((n) => n.kill()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
