/** The agent's measured drivers feeding its Prometheus registry. */
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import type { ComponentArtifact, ComponentDriver, DriverProgress, RestoreContext, UploadContext } from '../domain/drivers/types.js';
import { MeasuredDriver } from '../domain/metrics.js';
import { parseMetrics, value } from '../../test/harness/prometheus.js';
import { PromAgentMetrics } from './metrics.js';

const progress = (step: string, bytesDone: number): DriverProgress => ({
  component: 'uploads:uploads',
  step,
  event: { kind: 'progress', bytesDone, bytesTotal: 0, filesDone: 0, filesTotal: 0 },
});

/** A driver whose upload reads 4096 bytes and whose restore fetches in two steps, then fails or not. */
function fakeDriver(restoreFails: boolean): ComponentDriver {
  const noop = async (): Promise<void> => undefined;
  return {
    kind: 'uploads',
    name: 'uploads',
    ref: 'uploads:uploads',
    prepare: noop,
    freeze: noop,
    thaw: noop,
    release: noop,
    cut: async () => ({ kind: 'uploads', component: 'uploads:uploads', time: new Date() }),
    async upload(ctx: UploadContext): Promise<ComponentArtifact> {
      ctx.onProgress?.(progress('upload', 1000));
      const cut = await this.cut();
      return { component: this.ref, kind: 'uploads', cut, snapshotIds: ['s1'], bytes: 4096, files: 3, dataAddedBytes: 100 };
    },
    async restore(ctx: RestoreContext) {
      for (const b of [100, 600]) ctx.onProgress?.(progress('stage', b));
      ctx.onProgress?.(progress('fold', 50));
      if (restoreFails) throw new UnavailableError('repository went away');
      return { component: this.ref, steps: [] };
    },
    stage: () => Promise.reject(new Error('not used')),
    recoverStaged: () => {
      throw new Error('not used');
    },
  };
}

describe('agent metrics', () => {
  it('times uploads and restores per component and counts bytes up and down; progress still reaches the caller', async () => {
    const metrics = new PromAgentMetrics({ site: 'msk-1', host: 'files', processMetrics: false });
    const seenByCaller: DriverProgress[] = [];
    const ok = new MeasuredDriver(fakeDriver(false), metrics);
    const failing = new MeasuredDriver(fakeDriver(true), metrics);
    const base = { jobId: 'j', repository: {} as never, logger: silentLogger(), onProgress: (p: DriverProgress) => seenByCaller.push(p) };

    const artifact = await ok.upload({ ...base, tags: { site: 'msk-1', cutId: 'c', component: ok.ref } });
    expect(artifact.bytes).toBe(4096);
    await ok.restore({ ...base, artifact });
    await expect(failing.restore({ ...base, artifact })).rejects.toThrow('repository went away');

    const s = parseMetrics(await metrics.registry.metrics());
    const job = (operation: string, outcome: string): Record<string, string> => ({ site: 'msk-1', host: 'files', component: 'uploads:uploads', operation, outcome });
    expect(value(s, 'ffkeeper_agent_job_duration_seconds_count', job('upload', 'ok'))).toBe(1);
    expect(value(s, 'ffkeeper_agent_job_duration_seconds_count', job('restore', 'ok'))).toBe(1);
    expect(value(s, 'ffkeeper_agent_job_duration_seconds_count', job('restore', 'failed'))).toBe(1);
    // Upload: the artifact's bytes. Restore: the largest progress of each step, summed (600 + 50), twice.
    const moved = (direction: string): Record<string, string> => ({ site: 'msk-1', host: 'files', component: 'uploads:uploads', direction });
    expect(value(s, 'ffkeeper_agent_bytes_moved_total', moved('up'))).toBe(4096);
    expect(value(s, 'ffkeeper_agent_bytes_moved_total', moved('down'))).toBe(1300);
    expect(seenByCaller).toHaveLength(1 + 3 + 3);
  });
});
