/**
 * The phases of a two-phase restore into place (DESIGN.md §6), as the controller asks an agent for them:
 * `stage` fetches and checks a component beside the live one while the site runs; `switch` moves it into
 * place, the previous state aside; `rollback` puts a switched component's previous state back; `finish`
 * deletes what a switch moved aside; `discard` removes what was staged and never switched.
 */
export const RESTORE_PHASES = ['stage', 'switch', 'rollback', 'finish', 'discard'] as const;
export type RestorePhase = (typeof RESTORE_PHASES)[number];

export function isRestorePhase(value: string): value is RestorePhase {
  return (RESTORE_PHASES as readonly string[]).includes(value);
}
