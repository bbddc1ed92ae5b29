/**
 * End to end with real processes: nats-server, one controller, two agents of different sites, and the
 * CLI as typed. Covers presence, offline detection by TTL, and inventory rebuilt after a controller restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import { EXIT_CODES } from '../../shared/exit-codes.js';
import { freePort } from '../../shared/net.js';
import { startNats, type TestNats } from '../harness/nats.js';
import { BIN, runCli, runProcess, tempDir, waitFor, type TestProcess } from '../harness/processes.js';
import { controllerTls, operatorSecurity } from '../harness/pki.js';

interface AgentJson {
  site: string;
  host: string;
  status: string;
  components: { kind: string; name: string }[];
}

// Long enough that an agent's goodbye (offline at once) is told apart from its TTL on a loaded machine.
const TTL_SECONDS = 8;

describe('fleet presence end to end', () => {
  let nats: TestNats;
  const tmp = tempDir();
  let controller: TestProcess;
  let controllerAddr: string;
  let controllerConfig: string;
  const agents = new Map<string, TestProcess>();

  const cli = (...args: string[]) => runCli([...args, '--controller', controllerAddr]);
  const listAgents = async (): Promise<AgentJson[]> => {
    const r = await cli('agents', 'list', '--json');
    if (r.code !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout) as AgentJson[];
  };
  /** The controller's view over its API: polled every 100 ms, so no CLI process per poll. */
  const statusOf = async (site: string, host: string): Promise<string | undefined> => {
    const api = new GrpcControllerApi(controllerAddr, 5000, operatorSecurity());
    try {
      return (await api.listAgents()).find((a) => a.description.site === site && a.description.host === host)?.status;
    } finally {
      api.close();
    }
  };

  beforeAll(async () => {
    nats = await startNats();
    controllerAddr = `127.0.0.1:${await freePort()}`;
    controllerConfig = tmp.write('controller.yaml', { grpc: { listen: controllerAddr }, nats: nats.controller(), tls: controllerTls() });
    controller = runProcess(BIN.controller, ['--config', controllerConfig]);
    const presence = { heartbeatSeconds: 1, ttlSeconds: TTL_SECONDS };
    const a = tmp.write('a.yaml', {
      site: 'msk-1',
      host: 'db',
      grpc: { listen: '127.0.0.1:0' },
      ...(await nats.agent('msk-1', 'db')),
      presence,
      components: [
        { kind: 'postgres', database: 'ffsecurity' },
        { kind: 'uploads', paths: ['/var/lib/findface-security/uploads', '/var/lib/ffupload'] },
      ],
    });
    const b = tmp.write('b.yaml', {
      site: 'spb-1',
      host: 'tnt',
      grpc: { listen: '127.0.0.1:0' },
      ...(await nats.agent('spb-1', 'tnt')),
      presence,
      components: [
        {
          kind: 'tarantool',
          name: 'shard-001',
          port: 32001,
          httpPort: 8101,
          memtxDir: '/opt/ntech/var/lib/tarantool/shard-001/snapshots',
          walDir: '/opt/ntech/var/lib/tarantool/shard-001/xlogs',
          unit: 'tarantool@shard-001',
        },
      ],
    });
    agents.set('a', runProcess(BIN.agent, ['--config', a]));
    agents.set('b', runProcess(BIN.agent, ['--config', b]));
  });

  afterAll(async () => {
    for (const p of agents.values()) await p.kill();
    await controller?.kill();
    await nats?.stop();
    tmp.cleanup();
  });

  it('lists both agents online with their components', async () => {
    const { value } = await waitFor(async () => {
      const list = await listAgents();
      return list.length === 2 && list.every((x) => x.status === 'online') ? list : undefined;
      // Three processes starting on a busy 2-core machine: bounded generously, returns as soon as they are up.
    }, 60_000, 500);
    expect(value.map((x) => `${x.site}/${x.host}`)).toEqual(['msk-1/db', 'spb-1/tnt']);
    expect(value[0]?.components.map((c) => `${c.kind}:${c.name}`)).toEqual(['postgres:ffsecurity', 'uploads:uploads']);
    expect(value[1]?.components.map((c) => `${c.kind}:${c.name}`)).toEqual(['tarantool:shard-001']);

    const table = await cli('agents', 'list');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^SITE\s+HOST\s+STATUS/);
    expect(table.stdout).toMatch(/msk-1\s+db\s+online/);

    const sites = await cli('sites', 'list', '--json');
    expect(JSON.parse(sites.stdout)).toEqual([
      { site: 'msk-1', agentsTotal: 1, agentsOnline: 1, componentKinds: ['postgres', 'uploads'] },
      { site: 'spb-1', agentsTotal: 1, agentsOnline: 1, componentKinds: ['tarantool'] },
    ]);
  });

  it('shows one agent with its live description', async () => {
    const r = await cli('agents', 'show', 'spb-1/tnt', '--json');
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.stdout) as { live: { components: { memtxDir: string }[] } | null; liveError: string | null };
    expect(shown.liveError).toBeNull();
    expect(shown.live?.components[0]?.memtxDir).toBe('/opt/ntech/var/lib/tarantool/shard-001/snapshots');
    const human = await cli('agents', 'show', 'spb-1/tnt');
    expect(human.stdout).toContain('agent spb-1/tnt: online');
    expect(human.stdout).toContain('answered Describe');
  });

  it('names a malformed or unknown agent reference', async () => {
    const bad = await cli('agents', 'show', 'nohost');
    expect(bad.code).toBe(EXIT_CODES.VALIDATION);
    expect(bad.stderr.trim()).toBe("ffkeeper: agent 'nohost' must be written SITE/HOST, e.g. msk-1/db");
    const missing = await cli('agents', 'show', 'msk-1/nope');
    expect(missing.code).toBe(EXIT_CODES.NOT_FOUND);
    expect(missing.stderr.trim()).toBe("ffkeeper: agent 'msk-1/nope' not found in the fleet inventory");
  });

  it('shows a SIGKILLed agent offline once its TTL has passed', async () => {
    const killedAt = Date.now();
    await agents.get('b')?.kill();
    const { elapsedMs } = await waitFor(async () => (await statusOf('spb-1', 'tnt')) === 'offline', 20_000, 100);
    const sinceKill = Date.now() - killedAt;
    console.log(`agent offline ${sinceKill} ms after kill -9 (TTL ${TTL_SECONDS} s, detection poll ${elapsedMs} ms)`);
    // The promise is the TTL; the slack covers the CLI process each poll spawns on a loaded machine (an agent
    // never marked offline would fail here, one marked offline only at a later sweep too).
    expect(sinceKill).toBeLessThanOrEqual((TTL_SECONDS + 5) * 1000);
    expect(await statusOf('msk-1', 'db')).toBe('online');
  });

  it('rebuilds the inventory from KV after a controller restart, offline agents included', async () => {
    await controller.kill();
    controller = runProcess(BIN.controller, ['--config', controllerConfig]);
    const { value } = await waitFor(async () => {
      const list = await listAgents();
      return list.length === 2 ? list : undefined;
    }, 15_000, 500);
    expect(value.map((x) => `${x.site}/${x.host}:${x.status}`)).toEqual(['msk-1/db:online', 'spb-1/tnt:offline']);
  });

  it('shows an agent offline at once when it stops gracefully', async () => {
    const code = await agents.get('a')?.stop();
    expect(code).toBe(0);
    // At once: well before its TTL (8 s after its last heartbeat) could have expired it.
    await waitFor(async () => (await statusOf('msk-1', 'db')) === 'offline', (TTL_SECONDS / 2) * 1000, 100);
  });
});

describe('failures a user meets first', () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());

  it('the CLI against a controller that is not running prints one line and exits UNAVAILABLE', async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    const r = await runCli(['agents', 'list'], { FFKEEPER_CONTROLLER: addr });
    expect(r.code).toBe(EXIT_CODES.UNAVAILABLE);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^ffkeeper: controller ${addr} unavailable: `));
  });

  it.each([
    { name: 'missing site', config: { host: 'db' }, field: 'site' },
    { name: 'ill-typed TTL', config: { site: 'msk-1', host: 'db', presence: { ttlSeconds: 'soon' } }, field: 'presence.ttlSeconds' },
    {
      name: 'ill-typed shard port',
      config: { site: 'msk-1', host: 'db', components: [{ kind: 'tarantool', name: 's1', port: 'x', memtxDir: '/a', walDir: '/b', unit: 'u' }] },
      field: 'components[0].port',
    },
    { name: 'unknown component kind', config: { site: 'msk-1', host: 'db', components: [{ kind: 'redis' }] }, field: 'components[0].kind' },
  ])('an agent config with $name exits VALIDATION naming the field', async ({ config, field }) => {
    const file = tmp.write(`bad-${field}.yaml`, config);
    const agent = runProcess(BIN.agent, ['--config', file]);
    const code = await new Promise<number | null>((resolve) => agent.child.once('exit', resolve));
    expect(code).toBe(EXIT_CODES.VALIDATION);
    expect(agent.logs()).toContain(`invalid configuration in ${file}: ${field}:`);
  });

  it('an agent config file that does not exist is named', async () => {
    const agent = runProcess(BIN.agent, ['--config', '/nonexistent/agent.yaml']);
    const code = await new Promise<number | null>((resolve) => agent.child.once('exit', resolve));
    expect(code).toBe(EXIT_CODES.VALIDATION);
    expect(agent.logs().trim()).toBe('ffkeeper-agent: invalid configuration in /nonexistent/agent.yaml: file not found');
  });
});
