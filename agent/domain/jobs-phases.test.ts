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
import type { JournalEntry, RestoreJournal } from './ports.js';

const report = (component: string, step: string): RestoreReport => ({ component, steps: [{ step, ok: true, durationMs: 1 }] });

/** A staged component logging every phase; `failSwitch` makes its switch throw (having put back what it moved). */
function stagedOf(ref: string, log: string[], options: { failSwitch?: boolean; journal?: Record<string, unknown> } = {}): StagedComponent {
  // A phase run under an aborted signal would refuse its steps (the drivers' step runners check it).
  const phase = (what: string) => async (c: PhaseContext): Promise<RestoreReport> => {
    log.push(`${what} ${ref}${c.signal?.aborted ? ' (under an aborted signal)' : ''}`);
    if (what === 'switch') {
      await c.persist?.();
      if (options.failSwitch) throw new Error(`${ref}: unit did not start`);
    }
    return report(ref, what);
  };
  const journal = options.journal ?? { ref, step: 'staged' };
  return { ref, report: report(ref, 'fetch'), switchIn: phase('switch'), rollBack: phase('rollback'), finish: phase('finish'), discard: phase('discard'), journal: () => journal };
}

/** A driver whose stage resolves when `gate` does (or at once), logging every phase; it rebuilds staged components from the journal. */
function driver(ref: string, log: string[], options: { gate?: Promise<void>; failSwitch?: boolean } = {}): ComponentDriver {
  return {
    ...unusedDriver(ref),
    async stage(ctx: RestoreContext): Promise<StagedComponent> {
      log.push(`stage ${ref} ${ctx.jobId}`);
      await options.gate;
      log.push(`staged ${ref}`);
      return stagedOf(ref, log, options);
    },
    recoverStaged(jobId: string, journal: Record<string, unknown>): StagedComponent {
      log.push(`recover ${ref} ${jobId} ${JSON.stringify(journal)}`);
      return stagedOf(ref, log, { journal });
    },
  };
}

/** The restore journal in memory, as it would be on disk across an agent restart. */
class MemoryJournal implements RestoreJournal {
  readonly entries = new Map<string, JournalEntry>();
  /** Every write, as `<component> <switch>`. */
  readonly writes: string[] = [];

  async write(entry: JournalEntry): Promise<void> {
    this.writes.push(`${entry.component} ${entry.switch}`);
    this.entries.set(`${entry.jobId} ${entry.component}`, structuredClone(entry));
  }

  async remove(jobId: string, component: string): Promise<void> {
    this.entries.delete(`${jobId} ${component}`);
  }

  async list(): Promise<{ entries: JournalEntry[]; problems: string[] }> {
    return { entries: [...this.entries.values()], problems: [] };
  }
}

function artifact(ref: string): ComponentArtifact {
  const [kind] = ref.split(':') as [ComponentArtifact['kind']];
  return { component: ref, kind, cut: { kind: 'uploads', component: ref, time: new Date(0) }, snapshotIds: ['s'], bytes: 1, files: 1, dataAddedBytes: 1 };
}

function agent(drivers: ComponentDriver[], journal?: RestoreJournal): AgentJobs {
  return new AgentJobs({
    drivers,
    ...(journal ? { journal } : {}),
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
    await expect(phase(jobs, 'j1', 'switch', ['uploads:u'])).rejects.toThrow("uploads:u has nothing staged for restore job 'j1' on this agent: stage it again");
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

  it('journals each component: staged, switching before the driver changes anything, switched; gone once finished', async () => {
    const log: string[] = [];
    const journal = new MemoryJournal();
    const jobs = agent([driver('uploads:u', log)], journal);
    await phase(jobs, 'j5', 'stage', ['uploads:u']);
    expect([...journal.entries.values()]).toEqual([{ jobId: 'j5', component: 'uploads:u', switch: 'staged', state: { ref: 'uploads:u', step: 'staged' } }]);
    await phase(jobs, 'j5', 'switch', ['uploads:u']);
    // Before the switch, from the driver's persist (inside the switch), after it.
    expect(journal.writes).toEqual(['uploads:u staged', 'uploads:u switching', 'uploads:u switching', 'uploads:u switched']);
    await phase(jobs, 'j5', 'finish', ['uploads:u']);
    expect(journal.entries.size).toBe(0);
  });

  it('after a restart, holds what the journal names again: a component caught switching is rolled back by its driver, a staged one discarded', async () => {
    const log: string[] = [];
    const journal = new MemoryJournal();
    const before = agent([driver('uploads:u', log), driver('tarantool:t', log)], journal);
    await phase(before, 'j6', 'stage', ['uploads:u', 'tarantool:t']);
    // The agent is killed while it switches uploads:u: the journal says 'switching'.
    await journal.write({ ...journal.entries.get('j6 uploads:u')!, switch: 'switching' });
    log.length = 0;
    const after = agent([driver('uploads:u', log), driver('tarantool:t', log)], journal);
    const lines = await after.recoverJournal();
    expect(lines).toEqual([
      "restore job 'j6': uploads:u was being switched in when this agent stopped; held for the controller to roll back, finish or discard",
      "restore job 'j6': tarantool:t was staged when this agent stopped; held for the controller to roll back, finish or discard",
    ]);
    await phase(after, 'j6', 'rollback', ['uploads:u', 'tarantool:t']);
    expect(log).toEqual([
      'recover uploads:u j6 {"ref":"uploads:u","step":"staged"}',
      'recover tarantool:t j6 {"ref":"tarantool:t","step":"staged"}',
      'rollback uploads:u',
      'discard tarantool:t',
    ]);
    expect(journal.entries.size).toBe(0);
  });

  it('a failed switch journals the component as staged again; the rollback the controller then sends removes its staging', async () => {
    const log: string[] = [];
    const journal = new MemoryJournal();
    const jobs = agent([driver('tarantool:t', log, { failSwitch: true })], journal);
    await phase(jobs, 'j7', 'stage', ['tarantool:t']);
    await expect(phase(jobs, 'j7', 'switch', ['tarantool:t'])).rejects.toThrow('tarantool:t: unit did not start');
    expect(journal.entries.get('j7 tarantool:t')?.switch).toBe('staged');
    await phase(jobs, 'j7', 'rollback', ['tarantool:t']);
    expect(log.slice(-2)).toEqual(['switch tarantool:t', 'discard tarantool:t']);
    expect(journal.entries.size).toBe(0);
  });

  it('a resumed restore staging again rolls back a component an agent restart caught in its switch, then stages it', async () => {
    const log: string[] = [];
    const journal = new MemoryJournal();
    await agent([driver('uploads:u', log)], journal).restore({ jobId: 'j9', artifacts: [artifact('uploads:u')], repository: access, phase: 'stage' });
    await journal.write({ ...journal.entries.get('j9 uploads:u')!, switch: 'switching' });
    const after = agent([driver('uploads:u', log)], journal);
    await after.recoverJournal();
    log.length = 0;
    await phase(after, 'j9', 'stage', ['uploads:u']);
    expect(log).toEqual(['rollback uploads:u', 'stage uploads:u j9', 'staged uploads:u']);
    expect(journal.entries.get('j9 uploads:u')?.switch).toBe('staged');
  });

  it('names a journal entry it cannot take back and leaves it', async () => {
    const journal = new MemoryJournal();
    await journal.write({ jobId: 'j8', component: 'postgres:gone', switch: 'switched', state: {} });
    const lines = await agent([driver('uploads:u', [])], journal).recoverJournal();
    expect(lines).toEqual([
      "restore job 'j8': postgres:gone cannot be taken back from the journal (component 'postgres:gone' is not served by this agent); its staging is left as it is",
    ]);
    expect(journal.entries.size).toBe(1);
  });
});
