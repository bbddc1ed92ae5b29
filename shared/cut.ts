/**
 * What the controller and the agents share of the consistent cut (DESIGN.md §4): which components hold
 * the site's writes, and what a freeze call may do besides freezing.
 */
import type { CutPoint } from './manifest.js';

/**
 * Whether a component (`<kind>:<name>`) holds the site's writes: its freeze stops them (PostgreSQL: PAUSE
 * on pgbouncer) and its thaw lets them resume. The others only watch the site catch up; their thaw undoes
 * nothing. Components holding writes freeze first and stay frozen until every other component has cut.
 */
export function holdsSiteWrites(componentRef: string): boolean {
  return componentRef.startsWith('postgres:');
}

/** What a freeze call is asked to do besides freezing: take the cut, then end the freeze when it holds no writes. */
export interface FreezeAlso {
  cut?: boolean;
  thawIfHoldingNone?: boolean;
}

/** What a freeze did besides freezing: the cut points when it also cut, the agent's window when it also thawed. */
export interface FreezeOutcome {
  points?: CutPoint[];
  thawed?: { freezeWindowMs: number };
}
