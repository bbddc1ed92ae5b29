/**
 * Issue 16, real hosts on one machine: nats-server, the controller and three agents each run in their own
 * Linux network namespace (test/harness/netns.ts), joined by veth links to a bridge; every connection
 * between them crosses real interfaces between real addresses, and the CLI calls the controller from the
 * root namespace. Printed and asserted:
 * - `ffkeeper agents list --json`: the three agents online at their namespace's address (the same port on
 *   every host), the pid each reports being the process the harness started; nats-server sees each
 *   process connect from its own host's address;
 * - a coordinated snapshot of site msk-1 (two agents on two hosts) succeeds, its manifest naming both;
 * - plaintext clients and TLS clients without a certificate are refused at the controller's and an
 *   agent's real address;
 * - an agent announcing itself correctly with another agent's NATS seed is refused by NATS and stops; an
 *   agent with another host's certificate stops at start; the real agent of that host stays online;
 * - killing every process and cleaning up leaves no process, namespace, veth or bridge behind.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import { GrpcAgentClient } from '../../controller/transport/grpc-agent-client.js';
import { EXIT_CODES } from '../../shared/exit-codes.js';
import type { Manifest } from '../../shared/manifest.js';
import { startNats, type TestNats } from '../harness/nats.js';
import { createHosts, linkNames, netnsNames, type NetnsHosts } from '../harness/netns.js';
import { controllerTls } from '../harness/pki.js';
import { BIN, failure, runCli, runProcess, tempDir, waitFor, type TestProcess } from '../harness/processes.js';
import { listAgents } from '../harness/fleet.js';

const HOSTS = ['bus', 'ctl', 'msk-1-db', 'msk-1-files', 'spb-1-db'] as const;
type Host = (typeof HOSTS)[number];
const AGENTS = [
  { ns: 'msk-1-db', site: 'msk-1', host: 'db', component: 'uploads' },
  { ns: 'msk-1-files', site: 'msk-1', host: 'files', component: 'ffupload' },
  { ns: 'spb-1-db', site: 'spb-1', host: 'db', component: 'uploads' },
] as const satisfies ReadonlyArray<{ ns: Host; site: string; host: string; component: string }>;
/** Every agent listens on the same port, each on its own host (as a fleet's agents do). */
const AGENT_PORT = 7701;
const CONTROLLER_PORT = 7700;

describe('network-namespace hosts, real processes', () => {
  const tmp = tempDir('ffk-netns-');
  let hosts: NetnsHosts<Host>;
  let nats: TestNats;
  let controller: TestProcess;
  let controllerAddress: string;
  const agents = new Map<string, { process: TestProcess; address: string; config: Awaited<ReturnType<TestNats['agent']>> }>();
  const processes = (): TestProcess[] => [...agents.values()].map((a) => a.process).concat(controller ? [controller] : []);

  beforeAll(async () => {
    hosts = createHosts(HOSTS);
    console.log(`hosts on ${hosts.subnet} (bridge ${hosts.bridge}, root namespace ${hosts.gateway}): ${HOSTS.map((h) => `${h}=${hosts.address(h)} (netns ${hosts.netnsOf(h)})`).join(', ')}`);
    nats = await startNats({ host: hosts.address('bus'), netns: hosts.netnsOf('bus') });
    controllerAddress = `${hosts.address('ctl')}:${CONTROLLER_PORT}`;
    const controllerConfig = tmp.write('controller.yaml', {
      grpc: { listen: controllerAddress },
      nats: nats.controller(),
      tls: controllerTls(),
      metrics: { listen: '' },
      repositories: { root: path.join(tmp.dir, 'repos'), cacheDir: path.join(tmp.dir, 'cache'), secretsFile: path.join(tmp.dir, 'secrets.json') },
    });
    // Every agent's certificate and NATS seed first: issuing one reloads nats-server, and a client whose
    // connection races a reload can be refused, so nothing connects before the last one is issued.
    const issued = new Map<string, Awaited<ReturnType<TestNats['agent']>>>();
    for (const a of AGENTS) issued.set(`${a.site}/${a.host}`, await nats.agent(a.site, a.host));
    controller = runProcess(BIN.controller, ['--config', controllerConfig], {}, { netns: hosts.netnsOf('ctl') });
    for (const a of AGENTS) {
      const data = path.join(tmp.dir, 'data', a.ns);
      mkdirSync(path.join(data, 'photos'), { recursive: true });
      for (let i = 0; i < 3; i += 1) writeFileSync(path.join(data, 'photos', `${a.host}-${i}.jpg`), `${a.site}/${a.host} photo ${i}\n`.repeat(100 * (i + 1)));
      const config = issued.get(`${a.site}/${a.host}`)!;
      const address = `${hosts.address(a.ns)}:${AGENT_PORT}`;
      const file = tmp.write(`${a.ns}.yaml`, {
        site: a.site, host: a.host, grpc: { listen: address }, metrics: { listen: '' }, tls: config.tls, nats: config.nats,
        cacheDir: path.join(tmp.dir, 'agent-cache', a.ns), presence: { heartbeatSeconds: 1, ttlSeconds: 3 },
        components: [{ kind: 'uploads', name: a.component, paths: [data] }],
      });
      agents.set(`${a.site}/${a.host}`, { process: runProcess(BIN.agent, ['--config', file], {}, { netns: hosts.netnsOf(a.ns) }), address, config });
    }
    // Up: the controller, reached from the root namespace, lists the three agents online.
    try {
      await waitFor(async () => (await listAgents(controllerAddress))?.filter((e) => e.status === 'online').length === AGENTS.length, 60_000, 500);
    } catch (err) {
      for (const [name, p] of [['controller', controller] as const, ...[...agents].map(([k, a]) => [k, a.process] as const)]) console.log(`--- ${name}:\n${p.logs().slice(-3000)}`);
      throw err;
    }
  }, 120_000);

  afterAll(async () => {
    for (const p of processes()) await p.kill();
    await nats?.stop();
    hosts?.cleanup();
    tmp.cleanup();
  });

  it('agents list shows the three agents online at their own hosts\' addresses; NATS sees each host connect from its address', async () => {
    const r = await runCli(['agents', 'list', '--json', '--controller', controllerAddress]);
    expect(r.code, r.stderr).toBe(0);
    const listed = JSON.parse(r.stdout) as Array<{ site: string; host: string; status: string; grpcAddress: string; pid: number }>;
    for (const l of listed) console.log(`agents list: ${l.site}/${l.host} ${l.status} at ${l.grpcAddress} (pid ${l.pid})`);
    expect(listed).toHaveLength(AGENTS.length);
    for (const a of AGENTS) {
      const entry = listed.find((l) => l.site === a.site && l.host === a.host);
      expect(entry, `${a.site}/${a.host} listed`).toBeDefined();
      expect(entry!.status).toBe('online');
      expect(entry!.grpcAddress).toBe(`${hosts.address(a.ns)}:${AGENT_PORT}`);
      expect(entry!.grpcAddress).not.toMatch(/^127\./);
      // `ip netns exec` execs node: the agent's own pid is the child the harness holds (and kills).
      const p = agents.get(`${a.site}/${a.host}`)!.process;
      expect(entry!.pid).toBe(p.child.pid);
      expect(hosts.pids(a.ns)).toContain(p.child.pid);
    }

    const connz = (await (await fetch(`http://${nats.monitor}/connz`)).json()) as { connections: Array<{ ip: string; name?: string }> };
    for (const c of connz.connections) console.log(`nats-server at ${nats.url}: connection ${c.name ?? '(unnamed)'} from ${c.ip}`);
    const from = new Set(connz.connections.map((c) => c.ip));
    for (const h of ['ctl', 'msk-1-db', 'msk-1-files', 'spb-1-db'] as const) expect(from, `a connection from ${h}`).toContain(hosts.address(h));
    expect([...from].some((ip) => ip.startsWith('127.'))).toBe(false);
  }, 60_000);

  it('a coordinated snapshot of site msk-1 across two hosts succeeds', async () => {
    const r = await runCli(['snapshot', 'create', '--site', 'msk-1', '--wait', '--json', '--controller', controllerAddress]);
    expect(r.code, r.stderr).toBe(0);
    const created = JSON.parse(r.stdout) as { jobId: string; phase: string; durationMs: number; snapshot: { id: string; components: string[]; bytes: number } | null };
    console.log(`snapshot create --site msk-1: ${created.phase} in ${created.durationMs} ms, snapshot ${created.snapshot?.id}: ${created.snapshot?.components.join(', ')}, ${created.snapshot?.bytes} bytes`);
    expect(created.phase).toBe('Completed');
    expect(created.snapshot).not.toBeNull();
    expect([...created.snapshot!.components].sort()).toEqual(['uploads:ffupload', 'uploads:uploads']);

    const shown = await runCli(['snapshot', 'show', created.snapshot!.id, '--site', 'msk-1', '--json', '--controller', controllerAddress]);
    expect(shown.code, shown.stderr).toBe(0);
    const manifest = JSON.parse(shown.stdout) as Manifest;
    for (const c of manifest.components) console.log(`manifest: ${c.component} taken on host ${c.host}: ${c.files} files, ${c.bytes} bytes`);
    expect(manifest.agents.map((a) => a.host).sort()).toEqual(['db', 'files']);
    expect(manifest.components.map((c) => `${c.host}:${c.component}`).sort()).toEqual(['db:uploads:uploads', 'files:uploads:ffupload']);
    for (const c of manifest.components) expect(c.files).toBeGreaterThanOrEqual(3);
  }, 120_000);

  it('refuses plaintext clients and clients without a certificate at the controller\'s and an agent\'s real address', async () => {
    const agentAddress = agents.get('msk-1/db')!.address;
    const api = new GrpcControllerApi(controllerAddress, 5000, { insecure: true });
    const plainController = await failure(`controller ${controllerAddress}, plaintext client`, () => api.listAgents());
    api.close();
    expect(plainController.message).toMatch(/unavailable|handshake|certificate|closed|ECONNRESET/i);
    const client = new GrpcAgentClient({ security: { insecure: true } });
    const plainAgent = await failure(`agent ${agentAddress}, plaintext client`, () => client.describe(agentAddress, { timeoutMs: 5000 }));
    client.close();
    expect(plainAgent.message).toMatch(/unavailable|handshake|certificate|closed|ECONNRESET/i);

    for (const [what, address] of [['controller', controllerAddress], ['agent', agentAddress]] as const) {
      const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
      const err = await new Promise<Error>((resolve) => {
        const socket = tls.connect({ host, port, ca: [], rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: 'ffkeeper' });
        socket.on('error', resolve);
        socket.on('secureConnect', () => socket.once('data', () => undefined).once('close', () => resolve(new Error('closed by the server'))));
        setTimeout(() => resolve(new Error('no refusal within 10 s')), 10_000);
      });
      console.log(`${what} ${address}, TLS without a client certificate: ${err.message}`);
      expect(err.message).not.toBe('no refusal within 10 s');
    }
    // The operator's certificate is accepted at the same address: the refusals were about the clients.
    expect((await listAgents(controllerAddress))?.length).toBe(AGENTS.length);
  }, 60_000);

  it("stops an agent that announces itself correctly with another agent's NATS seed, and one with another host's certificate; the real one stays online", async () => {
    const files = agents.get('msk-1/files')!;
    const spbDb = agents.get('spb-1/db')!;
    const mskDb = agents.get('msk-1/db')!;
    const base = {
      site: 'msk-1', host: 'files', grpc: { listen: `${hosts.address('msk-1-files')}:0` }, metrics: { listen: '' },
      presence: { heartbeatSeconds: 1, ttlSeconds: 3 }, components: [{ kind: 'uploads', name: 'ffupload', paths: [path.join(tmp.dir, 'data', 'msk-1-files')] }],
    };
    const netns = { netns: hosts.netnsOf('msk-1-files') };
    // msk-1/files, its own certificate, spb-1/db's NATS seed.
    const seed = runProcess(BIN.agent, ['--config', tmp.write('seed.yaml', {
      ...base, tls: files.config.tls, nats: { ...files.config.nats, seedFile: spbDb.config.nats.seedFile }, cacheDir: path.join(tmp.dir, 'agent-cache', 'seed'),
    })], {}, netns);
    // msk-1/files with msk-1/db's certificate and seed.
    const cert = runProcess(BIN.agent, ['--config', tmp.write('cert.yaml', {
      ...base, tls: mskDb.config.tls, nats: mskDb.config.nats, cacheDir: path.join(tmp.dir, 'agent-cache', 'cert'),
    })], {}, netns);
    const [seedCode, certCode] = await Promise.all([seed.exited, cert.exited]);
    const lines = (p: TestProcess): string => p.logs().split('\n').filter((l) => l.startsWith('ffkeeper-agent:') || /"level":(50|60)/.test(l)).join('\n');
    console.log(`msk-1/files with spb-1/db's NATS seed: exit ${seedCode}\n${lines(seed)}`);
    console.log(`msk-1/files with msk-1/db's certificate: exit ${certCode}\n${lines(cert)}`);
    expect(seedCode).not.toBe(0);
    expect(seed.logs()).toMatch(/Permissions Violation for (Subscription to "_INBOX_ffk\.agent\.msk-1\.files\.|Publish to "\$KV\.ffk_agents\.msk-1\.files")/);
    expect(certCode).toBe(EXIT_CODES.VALIDATION);
    expect(cert.logs()).toContain('is the certificate of agent msk-1/db, but this is agent msk-1/files');
    // Neither left anything running in the namespace but the real agent, which the controller still lists online.
    expect(hosts.pids('msk-1-files')).toEqual([files.process.child.pid]);
    const listed = await listAgents(controllerAddress);
    const real = listed?.find((e) => e.description.site === 'msk-1' && e.description.host === 'files');
    expect(real?.status).toBe('online');
    expect(real?.description.pid).toBe(files.process.child.pid);
  }, 120_000);

  it('killing the processes and cleaning up leaves no process, namespace, veth or bridge behind', async () => {
    for (const p of processes()) await p.kill();
    await nats.stop();
    for (const h of HOSTS) expect(hosts.pids(h), `processes left in ${h}`).toEqual([]);
    hosts.cleanup();
    hosts.cleanup(); // idempotent
    const ours = new RegExp(`^${hosts.tag}(b|v\\d+|-.+)$`);
    const namespaces = netnsNames().filter((n) => ours.test(n));
    const links = linkNames().filter((l) => ours.test(l));
    console.log(`after cleanup of ${hosts.tag}: namespaces ${JSON.stringify(namespaces)}, links ${JSON.stringify(links)}`);
    expect(namespaces).toEqual([]);
    expect(links).toEqual([]);
  }, 60_000);
});
