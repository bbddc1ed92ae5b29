/**
 * The Agent gRPC service end to end with a real agent process, a real restic repository and an
 * uploads component: the cut protocol over the wire, upload with streamed progress, restore into
 * another directory, the freeze lease, and a wrong repository password.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IllegalStateError, ValidationError } from '../../shared/errors.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import { GrpcAgentClient } from '../../controller/transport/grpc-agent-client.js';
import type { AgentProgress } from '../../controller/domain/ports.js';
import { startNats, type TestNats } from '../harness/nats.js';
import { BIN, runProcess, tempDir, waitFor, type TestProcess } from '../harness/processes.js';
import { controllerSecurity } from '../harness/pki.js';

function treeHash(root: string): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (name.name.startsWith('.ffk-')) continue; // ffkeeper's own working dirs (the deletion shield), not data
      const p = path.join(dir, name.name);
      if (name.isDirectory()) walk(p);
      else h.update(`${path.relative(root, p)}\0`).update(readFileSync(p));
    }
  };
  walk(root);
  return h.digest('hex');
}

describe('Agent gRPC: cut protocol, upload and restore', () => {
  const tmp = tempDir('ffk-agent-grpc-');
  const tree = path.join(tmp.dir, 'uploads');
  const repoDir = path.join(tmp.dir, 'repo');
  const repository = { url: repoDir, password: 'correct horse', env: {} };
  let nats: TestNats;
  let agent: TestProcess;
  let address: string;
  const client = new GrpcAgentClient({ security: controllerSecurity() });
  const t = { timeoutMs: 30_000 };

  beforeAll(async () => {
    mkdirSync(path.join(tree, 'a'), { recursive: true });
    for (let i = 0; i < 20; i += 1) writeFileSync(path.join(tree, 'a', `f${i}.jpg`), randomBytes(20_000 + i * 1000));
    await new ResticRepository({ url: repoDir, password: repository.password }).ensureInitialized();
    nats = await startNats();
    const config = tmp.write('agent.yaml', {
      site: 'msk-1',
      host: 'files',
      grpc: { listen: '127.0.0.1:0' },
      ...(await nats.agent('msk-1', 'files')),
      cacheDir: path.join(tmp.dir, 'cache'),
      presence: { heartbeatSeconds: 1, ttlSeconds: 3 },
      components: [{ kind: 'uploads', paths: [tree] }],
    });
    agent = runProcess(BIN.agent, ['--config', config]);
    const { value } = await waitFor(async () => agent.logs().match(/"grpcAddress":"([^"]+)"/)?.[1], 15_000);
    address = value;
  });

  afterAll(async () => {
    client.close();
    await agent?.kill();
    await nats?.stop();
    tmp.cleanup();
  });

  it('takes a cut, uploads with progress and restores it into another directory', async () => {
    const before = treeHash(tree);
    expect(await client.prepare(address, { cutId: 'c1', site: 'msk-1', components: [], leaseMs: 5000, repository }, t)).toEqual([
      'uploads:uploads',
    ]);
    await client.freeze(address, 'c1', t);
    const points = await client.cut(address, 'c1', t);
    expect(points).toEqual([{ kind: 'uploads', component: 'uploads:uploads', time: expect.any(Date) }]);
    await client.thaw(address, 'c1', t);
    const progress: AgentProgress[] = [];
    const [artifact] = await client.upload(address, { cutId: 'c1', jobId: 'j1', site: 'msk-1', repository }, {
      ...t,
      onProgress: (p) => progress.push(p),
    });
    expect(artifact?.component).toBe('uploads:uploads');
    expect(artifact?.files).toBe(20);
    expect(artifact?.snapshotIds).toHaveLength(1);

    writeFileSync(path.join(tree, 'a', 'f0.jpg'), 'changed after the cut');
    const target = path.join(tmp.dir, 'restored');
    const steps = await client.restore(address, { jobId: 'j2', artifacts: [artifact!], repository, targetDir: target }, t);
    expect(steps.length).toBeGreaterThan(0);
    expect(steps.every((s) => s.ok)).toBe(true);
    // The snapshot holds the root in FindFace's layout (named by its last component, issue 14): a restore
    // into another directory puts it at <target>/<name>.
    expect(artifact?.details?.snapshotLayout).toBe('named');
    const restoredRoot = path.join(target, path.basename(tree));
    expect(treeHash(restoredRoot)).toBe(before);
  });

  it('cuts and ends the freeze in the freeze call when asked (this agent holds no writes)', async () => {
    await client.prepare(address, { cutId: 'c1b', site: 'msk-1', components: [], leaseMs: 5000, repository }, t);
    const done = await client.freeze(address, 'c1b', t, { cut: true, thawIfHoldingNone: true });
    expect(done.points).toEqual([{ kind: 'uploads', component: 'uploads:uploads', time: expect.any(Date) }]);
    expect(done.thawed?.freezeWindowMs).toBeGreaterThanOrEqual(0);
    // Nothing is left frozen: a thaw answers the same window, and the cut can be given up.
    expect(await client.thaw(address, 'c1b', t)).toEqual(done.thawed);
    await client.abort(address, 'c1b', 'test over', t);
  });

  it('thaws by itself when the freeze lease runs out, and refuses to go on with that cut', async () => {
    await client.prepare(address, { cutId: 'c2', site: 'msk-1', components: [], leaseMs: 300, repository }, t);
    await client.freeze(address, 'c2', t);
    await new Promise((r) => setTimeout(r, 600));
    const err = await client.cut(address, 'c2', t).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IllegalStateError);
    expect((err as Error).message).toContain("cut 'c2' is expired: freeze lease of 300 ms ran out before thaw");
  });

  it('refuses a wrong repository password at prepare, without the password in the message', async () => {
    const err = await client
      .prepare(address, { cutId: 'c3', site: 'msk-1', components: [], leaseMs: 5000, repository: { ...repository, password: 'wrong-pass-123' } }, t)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toMatch(/password/i);
    expect((err as Error).message).not.toContain('wrong-pass-123');
    expect(agent.logs()).not.toContain('wrong-pass-123');
    expect(agent.logs()).not.toContain('correct horse');
  });

  it('names an unknown component', async () => {
    await expect(
      client.prepare(address, { cutId: 'c4', site: 'msk-1', components: ['postgres:nope'], leaseMs: 5000, repository }, t),
    ).rejects.toThrow("component 'postgres:nope' is not served by this agent (it serves: uploads:uploads)");
  });
});
