/**
 * `ffkeeper-agent discover --root <siteDir>` against the FindFace-layout tree a dev site writes (its files
 * only: no database, no process): for each of the site's agents (db, tnt, files), the discovered config
 * equals the one the dev site wrote, field by field — except the fields that are ffkeeper's own
 * deployment choices, which no FindFace file holds (listed below). And a tree missing files: each file
 * looked for is named; exit non-zero only when nothing usable is found; `--write` never overwrites.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDiscover } from '../../agent/discover.js';
import { writeSiteFiles } from '../../deploy/dev-site/site.js';
import type { SiteState } from '../../deploy/dev-site/state.js';
import { agentConfigSchema, loadAgentConfig, type AgentConfig } from '../../shared/config/agent.js';
import { ConflictError, NotFoundError } from '../../shared/errors.js';
import { exitCodeFor } from '../../shared/exit-codes.js';
import { updateSecuritySyncSettings } from '../../shared/findface/config-py.js';
import { BIN } from '../harness/processes.js';
import { testRoot, uniqueSite } from './fixtures.js';

/**
 * Fields of an agent config that say how ffkeeper is deployed, not what FindFace has: discovery leaves
 * them to their defaults (or to --nats / --tls-dir), the dev site sets its own.
 */
const FFKEEPER_OWN = ['grpc', 'metrics', 'presence', 'pathPrepend', 'cacheDir', 'integrityCheck', 'tls', 'insecure'] as const;
/** The dev site's own Lua for verify drills' scratch shards (a real FindFace shard has none). */
const DEVSITE_ONLY_COMPONENT_FIELDS = ['sandboxInitLua'] as const;

/** Which parts of the one tree each dev-site agent holds. */
const AGENTS = { db: 'postgres,findface-security', tnt: 'tarantool,sf-api,extraction-api', files: 'uploads' } as const;

const root = testRoot();
const NATS = 'nats://10.1.2.3:4222';
let site: SiteState;
let bare: SiteState;

function discoverIn(dir: string, options: Record<string, string | boolean> = {}): { out: string; err: string; result: ReturnType<typeof runDiscover> } {
  let out = '';
  let err = '';
  const result = runDiscover({ root: dir, ...options }, { stdout: (t) => (out += t), stderr: (t) => (err += t), hostName: 'devbox' });
  return { out, err, result };
}

function stripDevsiteOnly(config: AgentConfig): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...config, components: config.components.map((c) => Object.fromEntries(Object.entries(c).filter(([k]) => !(DEVSITE_ONLY_COMPONENT_FIELDS as readonly string[]).includes(k)))) };
  for (const k of FFKEEPER_OWN) delete copy[k];
  return copy;
}

beforeAll(async () => {
  [site, bare] = await Promise.all([writeSiteFiles({ site: uniqueSite('disc'), root, shards: 3, nats: [NATS] }), writeSiteFiles({ site: uniqueSite('bare'), root })]);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('ffkeeper-agent discover on a dev site tree', () => {
  it.each(Object.entries(AGENTS))('finds the config the dev site wrote for agent %s (components %s)', (host, components) => {
    const { out, result } = discoverIn(site.siteDir, { site: site.site, host, components, nats: NATS });
    const written = loadAgentConfig(site.agentConfigs[host], {});
    // What is printed is what is compared.
    expect(agentConfigSchema.parse(parse(out))).toEqual(result.config);
    const want = stripDevsiteOnly(written);
    const got = stripDevsiteOnly(result.config);
    // Field by field: every field of either config, ffkeeper's own deployment fields aside.
    for (const field of new Set([...Object.keys(want), ...Object.keys(got)])) {
      if (field === 'nats') expect(got.nats, 'nats.servers').toMatchObject({ servers: written.nats.servers });
      else expect(got[field], field).toEqual(want[field]);
    }
    expect(result.report.missing).toEqual([]);
    expect(result.report.problems).toEqual([]);
  });

  it('names each missing file it looked for, and still gives what it found (exit 0)', () => {
    const etc = path.join(bare.siteDir, 'etc');
    for (const f of ['ffsecurity/config.py', 'pgbouncer/pgbouncer.ini', 'tarantool/instances.enabled']) rmSync(path.join(etc, f), { recursive: true });
    const { out, result } = discoverIn(bare.siteDir, { site: bare.site, host: 'all' });
    const missing = [
      `${etc}/ffsecurity/config.py`,
      `${etc}/findface-security/config.py`,
      `${etc}/pgbouncer/pgbouncer.ini`,
      `${etc}/tarantool/instances.enabled/`,
      `${bare.siteDir}/var/lib/findface-security/uploads/ (FindFace's default uploads)`,
      `${bare.siteDir}/var/lib/ffsecurity/uploads/ (FindFace's default uploads)`,
    ];
    expect(result.report.missing).toEqual(missing);
    for (const m of missing) expect(out).toContain(`#   ${m}\n`);
    expect(result.found).toEqual(['tarantool', 'sf-api', 'extraction-api', 'uploads']);
    expect(result.config.components.map((c) => `${c.kind}:${c.name}`)).toEqual(['tarantool:shard-001', 'tarantool:shard-002', 'sf-api:sf-api', 'uploads:uploads']);
    expect(result.config.components.at(-1)).toEqual({ kind: 'uploads', name: 'uploads', paths: [bare.uploads.ffuploadDir] });
  });

  it('says whether a SYNC_TOKEN is set, never its value', () => {
    const file = site.security?.configPath ?? '';
    writeFileSync(file, updateSecuritySyncSettings(readFileSync(file, 'utf8'), { syncToken: 'tok-5f1e2d3c4b5a' }));
    const { out } = discoverIn(site.siteDir, { site: site.site, host: 'db', components: 'findface-security' });
    expect(out).toContain('SYNC_TOKEN is set');
    expect(out).not.toContain('tok-5f1e2d3c4b5a');
  });

  it('fails with NOT_FOUND naming every file it looked for when nothing usable is there', () => {
    const empty = path.join(root, 'empty');
    let err = '';
    const run = (): unknown => runDiscover({ root: empty }, { stdout: () => undefined, stderr: (t) => (err += t), hostName: 'devbox' });
    expect(run).toThrow(NotFoundError);
    expect(run).toThrow(`no FindFace component found under ${empty}; not found: ${empty}/etc/ffsecurity/config.py, ${empty}/etc/findface-security/config.py,`);
    expect(exitCodeFor(new NotFoundError('x'))).toBe(3);
    for (const f of ['etc/findface-sf-api.ini', 'etc/tarantool/instances.available/', 'var/lib/ffupload/']) expect(err).toContain(`${empty}/${f}`);
  });

  it('--write writes the config atomically and refuses to overwrite without --force', () => {
    const file = path.join(root, 'out', 'agent.yaml');
    discoverIn(site.siteDir, { site: site.site, host: 'tnt', components: 'tarantool', write: file });
    expect(loadAgentConfig(file, {}).components).toHaveLength(3);
    expect(() => discoverIn(site.siteDir, { site: site.site, host: 'files', components: 'uploads', write: file })).toThrow(ConflictError);
    expect(loadAgentConfig(file, {}).host).toBe('tnt');
    discoverIn(site.siteDir, { site: site.site, host: 'files', components: 'uploads', write: file, force: true });
    expect(loadAgentConfig(file, {}).host).toBe('files');
    expect(existsSync(`${file}.tmp-${process.pid}`)).toBe(false);
  });

  it('exits 3 from the command line when nothing usable is found (the found case runs in-process above)', async () => {
    const args = [BIN.agent, 'discover', '--root', path.join(root, 'empty'), '--site', 'msk-1', '--components', 'tarantool,uploads'];
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, args, { timeout: 30_000 }, (e, stdout, stderr) => resolve({ code: e ? Number(e.code ?? 1) : 0, stdout, stderr })),
    );
    expect(r).toMatchObject({ code: 3, stdout: '', stderr: expect.stringContaining(`ffkeeper-agent: no FindFace component found under ${root}/empty; not found: ${root}/empty/etc/ffsecurity/config.py, ${root}/empty/etc/findface-security/config.py, ${root}/empty/etc/findface-sf-api.ini,`) });
    expect(r.stderr).toContain('# (found: nothing usable)');
    expect(r.stderr).not.toContain('components:');
  });
});
