/**
 * Issue 16: operator roles enforced in the controller, and the hash-chained audit trail, on real
 * processes (a controller with mTLS, a nats-server, the CLI with each operator's certificate). A viewer
 * calling restore, snapshot delete or retention apply is denied with exit 9; an operator restoring into a
 * live site is denied, into a scratch site allowed; an admin is allowed; a site-scoped operator is denied
 * other sites. Every one of these calls is in `audit list`; removing a record from the stream, or a
 * changed copy of it, makes `audit verify` fail naming it.
 */
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import { chainHash, GENESIS, recordOf, type AuditEntry, type AuditRecord } from '../../controller/domain/access/audit.js';
import type { RestoreArgs } from '../../controller/domain/restore-service.js';
import { exitCodeFor, EXIT_CODES } from '../../shared/exit-codes.js';
import { AUDIT_STREAM, AUDIT_SUBJECT } from '../../shared/names.js';
import { freePort } from '../../shared/net.js';
import { connectNats } from '../../shared/transport/nats.js';
import { startNats, type TestNats } from '../harness/nats.js';
import { controllerTls, issueTestCertificate } from '../harness/pki.js';
import { BIN, runCli, runProcess, tempDir, waitFor, type CliResult, type TestProcess } from '../harness/processes.js';

describe('operator roles and the audit trail', () => {
  const tmp = tempDir('ffk-roles-');
  let nats: TestNats;
  /** The head an intact `audit verify` printed (SEQ:HASH), kept "outside" for the forgery test. */
  let anchor: string | undefined;
  let controller: TestProcess;
  let address: string;
  const dirs = new Map<string, string>();
  const files = new Map<string, { ca: string; cert: string; key: string }>();

  /** The CLI as operator `name` (its own certificate directory). */
  const as = (name: string, ...args: string[]): Promise<CliResult> => runCli([...args, '--controller', address], { FFKEEPER_TLS_DIR: dirs.get(name) as string });

  beforeAll(async () => {
    nats = await startNats();
    address = `127.0.0.1:${await freePort()}`;
    const config = tmp.write('controller.yaml', {
      grpc: { listen: address },
      nats: nats.controller(),
      tls: controllerTls(),
      metrics: { listen: '' },
      access: {
        operators: { vera: { role: 'viewer' }, otto: { role: 'operator' }, sam: { role: 'operator', sites: ['spb-1'] }, ada: { role: 'admin' } },
        scratchSites: ['lab-1'],
      },
      repositories: { root: path.join(tmp.dir, 'repos'), cacheDir: path.join(tmp.dir, 'cache'), secretsFile: path.join(tmp.dir, 'secrets.json') },
    });
    controller = runProcess(BIN.controller, ['--config', config]);
    for (const name of ['vera', 'otto', 'sam', 'ada', 'eve']) {
      const f = await issueTestCertificate({ kind: 'operator', name });
      files.set(name, f);
      dirs.set(name, path.dirname(f.cert));
    }
    await waitFor(async () => ((await as('vera', 'sites', 'list')).code === 0 ? true : undefined), 60_000, 500);
  }, 120_000);

  afterAll(async () => {
    await controller?.kill();
    await nats?.stop();
    tmp.cleanup();
  });

  const denied = async (name: string, args: string[], reason: string): Promise<void> => {
    const r = await as(name, ...args);
    console.log(`${name}: ffkeeper ${args.join(' ')} → exit ${r.code}: ${r.stderr.trim()}`);
    expect(r.code).toBe(EXIT_CODES.PERMISSION_DENIED);
    expect(r.stderr.trim().split('\n')).toEqual([`ffkeeper: ${reason}`]);
  };
  const allowed = async (name: string, args: string[]): Promise<void> => {
    const r = await as(name, ...args);
    console.log(`${name}: ffkeeper ${args.join(' ')} → exit ${r.code} (past the role check): ${r.stderr.trim().split('\n')[0] ?? ''}`);
    expect(r.code).not.toBe(EXIT_CODES.PERMISSION_DENIED);
  };

  /**
   * The restore call itself, as operator `name` (the CLI plans first, and a plan needs a sealed snapshot:
   * this controller has no sites); resolves with the exit code its error maps to.
   */
  const callAs = async (name: string, what: string, fn: (api: GrpcControllerApi) => Promise<unknown>): Promise<{ code: number; message: string }> => {
    const api = new GrpcControllerApi(address, 10_000, { tls: files.get(name) as { ca: string; cert: string; key: string } });
    try {
      await fn(api);
      return { code: 0, message: '' };
    } catch (err) {
      console.log(`${name}: ${what} → exit ${exitCodeFor(err)}: ${(err as Error).message}`);
      return { code: exitCodeFor(err), message: (err as Error).message };
    } finally {
      api.close();
    }
  };
  const restoreAs = (name: string, args: Partial<RestoreArgs>): Promise<{ code: number; message: string }> =>
    callAs(name, `restore ${JSON.stringify(args)}`, (api) => api.restore({ site: 'msk-1', selector: { kind: 'latest' }, components: [], noSafetySnapshot: false, ...args }, () => undefined));

  it('denies what a role does not allow, with exit 9 and a one-line reason; allows the rest', async () => {
    expect(await restoreAs('vera', {})).toEqual({ code: EXIT_CODES.PERMISSION_DENIED, message: "operator vera (viewer) may not call restore: it needs admin (site 'msk-1' is not a scratch site)" });
    await denied('vera', ['snapshot', 'delete', 'c-20261203-000000-000000', '--site', 'msk-1', '--yes'], 'operator vera (viewer) may not call deleteSnapshot: it needs admin');
    // `retention apply` plans first (a read): the apply call itself, as the CLI makes it after the plan.
    expect(await callAs('vera', 'retention apply', (api) => api.applyRetention('msk-1', () => undefined))).toEqual({ code: EXIT_CODES.PERMISSION_DENIED, message: 'operator vera (viewer) may not call applyRetention: it needs admin' });
    await allowed('vera', ['agents', 'list']);
    expect(await restoreAs('otto', {})).toEqual({ code: EXIT_CODES.PERMISSION_DENIED, message: "operator otto (operator) may not call restore: it needs admin (site 'msk-1' is not a scratch site)" });
    expect((await restoreAs('otto', { toSite: 'lab-1' })).code).not.toBe(EXIT_CODES.PERMISSION_DENIED);
    await denied('sam', ['snapshot', 'create', '--site', 'msk-1'], "operator sam (operator of spb-1) may not call createSnapshot for site 'msk-1'");
    await denied('eve', ['sites', 'list'], 'operator eve has no role on this controller (access.operators); listSites denied');
    expect((await restoreAs('ada', {})).code).not.toBe(EXIT_CODES.PERMISSION_DENIED);
    await allowed('ada', ['restore', '--site', 'msk-1', '--latest', '--yes']);
  });

  it('an operator limited to some sites lists only their rows: schedules and audit records of its sites', async () => {
    expect((await as('otto', 'schedule', 'set', '--site', 'msk-1', '--cron', '0 3 * * *')).code).toBe(0);
    expect((await as('sam', 'schedule', 'set', '--site', 'spb-1', '--cron', '0 4 * * *')).code).toBe(0);
    const scheduled = async (name: string): Promise<string[]> => (JSON.parse((await as(name, 'schedule', 'list', '--json')).stdout) as { site: string }[]).map((x) => x.site).sort();
    expect(await scheduled('vera')).toEqual(['msk-1', 'spb-1']);
    expect(await scheduled('sam')).toEqual(['spb-1']);
    const audit = async (name: string): Promise<{ sites: string[]; who: string; method: string }[]> => JSON.parse((await as(name, 'audit', 'list', '--json')).stdout) as { sites: string[]; who: string; method: string }[];
    const [mine, all] = [await audit('sam'), await audit('vera')];
    console.log(`audit list: sam (operator of spb-1) sees ${mine.length} of ${all.length} records: ${mine.map((e) => `${e.who} ${e.method} [${e.sites.join(',')}]`).join('; ')}`);
    expect(mine.map((e) => `${e.who} ${e.method}`)).toContain('operator sam setSchedule');
    for (const e of mine) expect(e.sites).toEqual(['spb-1']);
    expect(all.some((e) => e.sites.includes('msk-1'))).toBe(true);

    // A job of another site, asked for by its id (`jobs show`, `jobs logs`): refused as the listing leaves it out.
    await as('otto', 'snapshot', 'create', '--site', 'msk-1');
    const jobs = JSON.parse((await as('vera', 'jobs', 'list', '--json')).stdout) as { id: string; site: string }[];
    const other = jobs.find((j) => j.site === 'msk-1');
    expect(other, JSON.stringify(jobs)).toBeDefined();
    const reason = (method: string): string => `operator sam (operator of spb-1) may not call ${method} for site 'msk-1'`;
    await denied('sam', ['jobs', 'show', other?.id ?? ''], reason('getJob'));
    await denied('sam', ['jobs', 'logs', other?.id ?? ''], reason('watchJob'));
    expect((await as('vera', 'jobs', 'show', other?.id ?? '')).code).toBe(0);
    expect((JSON.parse((await as('sam', 'jobs', 'list', '--json')).stdout) as { site: string }[]).filter((j) => j.site !== 'spb-1')).toEqual([]);
  });

  it('records every one of these calls; audit verify finds a removed or changed record, naming it', async () => {
    const list = await as('vera', 'audit', 'list', '--json');
    expect(list.code).toBe(0);
    const entries = JSON.parse(list.stdout) as { seq: number; who: string; method: string; outcome: string; sites: string[] }[];
    const seen = entries.map((e) => `${e.who} ${e.method} ${e.outcome}`);
    for (const want of ['operator vera restore denied', 'operator vera deleteSnapshot denied', 'operator vera applyRetention denied', 'operator otto restore denied', 'operator otto restore failed', 'operator sam createSnapshot denied', 'operator eve listSites denied', 'operator ada restore failed']) {
      expect(seen).toContain(want);
    }
    expect(seen.some((s) => s.startsWith('operator vera listAgents'))).toBe(false); // reads are not recorded
    const bySite = JSON.parse((await as('vera', 'audit', 'list', '--site', 'lab-1', '--json')).stdout) as { method: string; who: string }[];
    expect(bySite.map((e) => `${e.who} ${e.method}`)).toEqual(['operator otto restore']);
    const table = await as('vera', 'audit', 'list');
    console.log(table.stdout);
    const intact = await as('vera', 'audit', 'verify');
    expect(intact.stdout).toMatch(/^audit trail intact: \d+ records/);
    expect(intact.stdout).toMatch(/^the head the controller kept outside the stream \(#\d+\) still matches$/m);
    anchor = /^head: (\S+)/m.exec(intact.stdout)?.[1];
    expect(anchor).toMatch(/^\d+:[0-9a-f]{64}$/);

    // Tampering, from a client of the stream: record #2 removed, and a changed copy of it appended.
    const nc = await connectNats({ config: nats.controller(), name: 'tamper' });
    try {
      const jsm = await jetstreamManager(nc);
      const original = await jsm.streams.getMessage(AUDIT_STREAM, { seq: 2 });
      const record = original?.json<Record<string, unknown>>() ?? {};
      await jsm.streams.deleteMessage(AUDIT_STREAM, 2);
      await nc.request(AUDIT_SUBJECT, JSON.stringify({ ...record, outcome: 'ok', message: undefined, code: undefined }));
    } finally {
      await nc.close();
    }
    const broken = await as('vera', 'audit', 'verify');
    console.log(`audit verify after tampering → exit ${broken.code}: ${broken.stderr.trim()}`);
    expect(broken.code).toBe(EXIT_CODES.ILLEGAL_STATE);
    expect(broken.stderr).toContain('records #2 are missing before record #3');
    expect(broken.stderr).toMatch(/record #\d+ \([^)]*\) was changed: its content does not match its hash/);
  });

  it("the controller's kept head and an anchor kept from an earlier verify each detect a trail rewritten whole from its first record", async () => {
    // The strongest tampering a client of the stream can do: read it, drop it, write a forged chain from #1
    // with every hash recomputed (vera's denied restore turned into a success).
    const nc = await connectNats({ config: nats.controller(), name: 'forger' });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(AUDIT_STREAM);
      const records: AuditRecord[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(AUDIT_STREAM, { seq }).catch(() => null);
        if (m) records.push(recordOf(m.json<AuditEntry>()));
      }
      await jsm.streams.delete(AUDIT_STREAM);
      await jsm.streams.add({ name: AUDIT_STREAM, subjects: [AUDIT_SUBJECT] });
      let prev = GENESIS;
      for (const r of records) {
        const forged = r.who === 'operator vera' && r.method === 'restore' ? { ...r, outcome: 'ok' as const } : r;
        const hash = chainHash(prev, forged);
        await nc.request(AUDIT_SUBJECT, JSON.stringify({ ...forged, prev, hash }));
        prev = hash;
      }
    } finally {
      await nc.close();
    }
    // Without an anchor: the head the controller kept in its audit.headFile (outside NATS) catches it.
    const alone = await as('vera', 'audit', 'verify');
    console.log(`audit verify of the forged trail without an anchor → exit ${alone.code}: ${alone.stderr.trim()}`);
    expect(alone.code).toBe(EXIT_CODES.ILLEGAL_STATE);
    expect(alone.stderr).toMatch(/not the head this controller kept [0-9a-f]{16}…: the trail was rewritten up to it|the head this controller kept \(audit.headFile\), record #\d+ is not in the stream/);
    const anchored = await as('vera', 'audit', 'verify', '--anchor', anchor as string);
    console.log(`audit verify --anchor ${anchor} → exit ${anchored.code}: ${anchored.stderr.trim()}`);
    expect(anchored.code).toBe(EXIT_CODES.ILLEGAL_STATE);
    expect(anchored.stderr).toMatch(/the trail was rewritten up to it|is not in the stream/);
    expect((await as('vera', 'audit', 'verify', '--anchor', 'nonsense')).code).toBe(EXIT_CODES.VALIDATION);
  });
});
