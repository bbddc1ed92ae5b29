/**
 * Fault injection for the dev site's units, read by the `systemctl` shim: a unit whose start takes a
 * while (a real findface-security routinely takes longer than a few seconds) or never finishes. Kept in
 * `<runDir>/unit-faults.json`; `ffkeeper-devsite unit-fault` sets and clears them.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { IllegalStateError, ValidationError } from '../../shared/errors.js';
import type { SiteState } from './state.js';
import { unitOf } from './units.js';

export interface UnitFault {
  /** `systemctl start` sleeps this long before starting the unit. */
  startDelayMs?: number;
  /** `systemctl start` never returns (until killed). */
  neverStarts?: boolean;
  /** The next this many `systemctl start`s of the unit fail (the unit stays down); then it starts again. */
  failStarts?: number;
}

function faultsFile(state: SiteState): string {
  return path.join(state.runDir, 'unit-faults.json');
}

export function readUnitFaults(state: SiteState): Record<string, UnitFault> {
  const file = faultsFile(state);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, UnitFault>) : {};
}

/** Sets (or with `undefined` clears) the fault of one unit; the unit must exist. */
export function setUnitFault(state: SiteState, unit: string, fault: UnitFault | undefined): void {
  unitOf(state, unit); // names the unit when it does not exist
  if (fault?.startDelayMs !== undefined && (!Number.isInteger(fault.startDelayMs) || fault.startDelayMs < 0)) {
    throw new ValidationError(`start delay of unit '${unit}' must be a whole number of ms ≥ 0, not ${fault.startDelayMs}`, { field: 'startDelayMs' });
  }
  const faults = readUnitFaults(state);
  if (fault) faults[unit] = fault;
  else delete faults[unit];
  const file = faultsFile(state);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(faults, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** Applies the unit's start fault (if any) before it starts: sleeps, never returns, or throws (counted down). */
export async function beforeStart(state: SiteState, unit: string): Promise<void> {
  const fault = readUnitFaults(state)[unit];
  if (!fault) return;
  if (fault.failStarts !== undefined && fault.failStarts > 0) {
    const left = fault.failStarts - 1;
    setUnitFault(state, unit, left > 0 || fault.neverStarts || fault.startDelayMs ? { ...fault, failStarts: left } : undefined);
    throw new IllegalStateError(`injected start failure of ${unit} (unit-fault --fail-starts; ${left} more)`);
  }
  if (fault.neverStarts) await new Promise(() => setInterval(() => undefined, 60_000));
  if (fault.startDelayMs) await new Promise((r) => setTimeout(r, fault.startDelayMs));
}
