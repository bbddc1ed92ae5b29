/**
 * Follows a runbook on a dev site as an operator would (a model migration plan's steps, `ffkeeper migrate
 * plan --json`): each step's commands through `sh -c` with the site's shims first on PATH (systemctl,
 * findface-security, findface-sf-api-migrate), then its files written. Steps the caller skips are left
 * out (ffkeeper's own snapshot needs a controller; the dev site has no video units). The first command
 * that fails stops the run, naming the step and its output.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { IllegalStateError } from '../../shared/errors.js';
import type { SiteState } from './state.js';

/** A runbook step as a migration plan gives it. */
export interface RunbookStep {
  n: number;
  title: string;
  commands: string[];
  files?: { path: string; content: string }[];
}

export interface StepRun {
  n: number;
  title: string;
  ms: number;
  /** What the step's commands printed (stdout and stderr). */
  output: string;
}

export interface RunbookOptions {
  /** Where relative paths (migration.ini) go and commands run. */
  cwd: string;
  skip?: (step: RunbookStep) => boolean;
  /** Called before a step runs (a bench marks the time). */
  before?: (step: RunbookStep) => void;
  timeoutMs?: number;
}

function sh(command: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | string; output: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], { cwd, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number | string }).code ?? 'killed') : 0, output: stdout + stderr });
    });
  });
}

export async function followRunbook(state: SiteState, steps: readonly RunbookStep[], o: RunbookOptions): Promise<StepRun[]> {
  const env = { ...process.env, PATH: `${state.binDir}:${process.env.PATH ?? ''}` };
  const runs: StepRun[] = [];
  for (const step of steps) {
    if (o.skip?.(step)) continue;
    o.before?.(step);
    const t0 = performance.now();
    let output = '';
    for (const command of step.commands) {
      const r = await sh(command, o.cwd, env, o.timeoutMs ?? 600_000);
      output += r.output;
      if (r.code !== 0) throw new IllegalStateError(`step ${step.n} (${step.title}): '${command}' exited ${r.code}: ${r.output.trim()}`);
    }
    for (const f of step.files ?? []) writeFileSync(path.resolve(o.cwd, f.path), f.content);
    runs.push({ n: step.n, title: step.title, ms: performance.now() - t0, output });
  }
  return runs;
}
