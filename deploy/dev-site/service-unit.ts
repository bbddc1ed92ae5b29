/**
 * The dev site's HTTP stand-ins run as units by `ffkeeper-devsite unit-main <service>` (sf-api,
 * extraction-api): started in the background unless the unit runs, ready once it listens on its port.
 */
import path from 'node:path';
import { UnavailableError } from '../../shared/errors.js';
import { spawnDetached, stopUnitProcess, tailOf, unitPid, waitUnitListening } from './procs.js';
import { cliCommand } from './self.js';
import type { SiteState } from './state.js';

export interface ServiceUnit {
  unit: string;
  /** The `unit-main` service that runs it. */
  service: string;
  /** Its port, read from its config when it is started. */
  port: () => number;
  /** Log file name in the site's run directory. */
  logName: string;
  /** How an error names it. */
  label: string;
}

/** Starts the unit unless it runs; resolves once it listens; stops what it started when it does not. */
export async function startServiceUnit(state: SiteState, s: ServiceUnit): Promise<number> {
  const running = unitPid(state.runDir, state.siteDir, s.unit);
  if (running !== undefined) return running;
  const port = s.port();
  const cli = cliCommand('unit-main');
  const logFile = path.join(state.runDir, s.logName);
  const pid = spawnDetached({
    unit: s.unit,
    runDir: state.runDir,
    command: cli.command,
    args: [...cli.args, s.service, '--site', state.site],
    cwd: state.runDir,
    logFile,
    env: { ...process.env, FFK_DEVSITE_ROOT: path.dirname(state.siteDir) },
  });
  try {
    await waitUnitListening({ runDir: state.runDir, siteDir: state.siteDir, unit: s.unit, port, timeoutMs: 30_000 });
  } catch (err) {
    await stopServiceUnit(state, s.unit);
    throw new UnavailableError(`dev site '${state.site}': ${s.label} did not start:\n${tailOf(logFile)}`, { cause: err });
  }
  return pid;
}

export function stopServiceUnit(state: SiteState, unit: string): Promise<boolean> {
  return stopUnitProcess(state.runDir, state.siteDir, unit, { signal: 'SIGTERM' });
}
