/**
 * The agent's side of a two-phase restore (AgentJobs.restore with a phase): what `stage` produced is
 * held per job and component until the controller switches it in and finishes it, or discards it.
 */
import { describe, expect, it } from 'vitest';
import { unusedDriver } from './drivers/fakes.test-support.js';
import { silentLogger } from '../../shared/logger.js';
import type { Repository } from '../../shared/repository/repository.js';
import type { RestorePhase } from '../../shared/restore-phases.js';
import type { ComponentArtifact, ComponentDriver, PhaseContext, RestoreContext, RestoreReport, StagedComponent } from './drivers/types.js';
import { AgentJobs } from './jobs.js';

const report = (component: string, step: string): RestoreReport => ({ component, steps: [{ step, ok: true, durationMs: 1 }] });

/** A driver whose stage resolves when `release()` is called (or at once), logging every phase. */
function driver(ref: string, log: string[], options: { gate?: Promise<void> } = {}): ComponentDriver {
  return {
    ...unusedDriver(ref),
    async stage(ctx: RestoreContext): Promise<StagedComponent> {
      log.push(`stage ${ref} ${ctx.jobId}`);
      await options.gate;
      log.push(`staged ${ref}`);
      // A phase run under an aborted signal would refuse its steps (the drivers' step runners check it).
      const phase = (what: string) => async (c: PhaseContext): Promise<RestoreReport> => {
        log.push(`${what} ${ref}${c.signal?.aborted ? ' (under an aborted signal)' : ''}`);
        return report(ref, what);
      };
      return { ref, report: report(ref, 'fetch'), switchIn: phase('switch'), rollBack: phase('rollback'), finish: phase('finish'), discard: phase('discard') };
    },
  };
}

function artifact(ref: string): ComponentArtifact {
  const [kind] = ref.split(':') as [ComponentArtifact['kind']];
  return { component: ref, kind, cut: { kind: 'uploads', component: ref, time: new Date(0) }, snapshotIds: ['s'], bytes: 1, files: 1, dataAddedBytes: 1 };
}

function agent(drivers: ComponentDriver[]): AgentJobs {
  return new AgentJobs({
    drivers,
    openRepository: () => ({}) as Repository,
    services: { start: async () => undefined, stop: async () => undefined, isActive: async () => true },
    runCommand: async () => ({ exitCode: 0, stdout: '', stderr: '' }),
    logger: silentLogger(),
  });
}

const access = { url: '/repo', password: 'pw', env: {} };

function phase(jobs: AgentJobs, jobId: string, p: RestorePhase, refs: string[], signal?: AbortSignal) {
  return jobs.restore({ jobId, artifacts: refs.map(artifact), repository: access, phase: p, ...(signal ? { signal } : {}) });
}

describe('AgentJobs: restore phases', () => {
  it('stages, switches and finishes each component, holding it in between', async () => {
    const log: string[] = [];
    const jobs = agent([driver('uploads:u', log), driver('tarantool:t', log)]);
    const staged = await phase(jobs, 'j1', 'stage', ['uploads:u', 'tarantool:t']);
    expect(staged.reports.map((r) => `${r.component} ${r.steps[0]?.step}`)).toEqual(['uploads:u fetch', 'tarantool:t fetch']);
    await phase(jobs, 'j1', 'switch', ['uploads:u', 'tarantool:t']);
    await phase(jobs, 'j1', 'finish', ['uploads:u', 'tarantool:t']);
    expect(log).toEqual(['stage uploads:u j1', 'staged uploads:u', 'stage tarantool:t j1', 'staged tarantool:t', 'switch uploads:u', 'switch tarantool:t', 'finish uploads:u', 'finish tarantool:t']);
    // Finished: nothing is held any more; a discard does nothing, a switch is refused naming why.
    await phase(jobs, 'j1', 'discard', ['uploads:u']);
    await expect(phase(jobs, 'j1', 'switch', ['uploads:u'])).rejects.toThrow("uploads:u has nothing staged for restore job 'j1' on this agent (was the agent restarted?): stage it again");
  });

  it('a stage the controller gave up on is discarded when it ends, and a discard sent meanwhile waits for it', async () => {
    const log: string[] = [];
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const jobs = agent([driver('uploads:u', log, { gate })]);
    const abort = new AbortController();
    const staging = phase(jobs, 'j2', 'stage', ['uploads:u'], abort.signal);
    abort.abort();
    const discarding = phase(jobs, 'j2', 'discard', ['uploads:u']);
    open();
    await expect(staging).rejects.toThrow("staging uploads:u for restore job 'j2' was cancelled; what it staged is removed");
    await discarding;
    expect(log).toEqual(['stage uploads:u j2', 'staged uploads:u', 'discard uploads:u']);
  });

  it('staging again for the same job discards the earlier staging, or finishes it when it was already switched in', async () => {
    const log: string[] = [];
    const jobs = agent([driver('uploads:u', log), driver('tarantool:t', log)]);
    await phase(jobs, 'j3', 'stage', ['uploads:u', 'tarantool:t']);
    await phase(jobs, 'j3', 'switch', ['uploads:u']);
    log.length = 0;
    await phase(jobs, 'j3', 'stage', ['uploads:u', 'tarantool:t']);
    expect(log).toEqual(['finish uploads:u', 'stage uploads:u j3', 'staged uploads:u', 'discard tarantool:t', 'stage tarantool:t j3', 'staged tarantool:t']);
  });

  it('rolls back a switched component and then holds nothing for it', async () => {
    const log: string[] = [];
    const jobs = agent([driver('uploads:u', log)]);
    await phase(jobs, 'j4', 'stage', ['uploads:u']);
    await phase(jobs, 'j4', 'switch', ['uploads:u']);
    await phase(jobs, 'j4', 'rollback', ['uploads:u']);
    await phase(jobs, 'j4', 'finish', ['uploads:u']);
    expect(log.slice(-2)).toEqual(['switch uploads:u', 'rollback uploads:u']);
  });
});
