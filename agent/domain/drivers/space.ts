/**
 * The staging space check of a two-phase restore: a component is staged beside the live one, on the same
 * filesystem, so that filesystem needs room for the snapshot's copy before anything is fetched.
 */
import { formatBytes } from '../../../shared/bytes.js';
import { IllegalStateError } from '../../../shared/errors.js';

/** Refuses when `free` is less than `need`; returns a summary for the step's detail. */
export function checkStagingSpace(o: { ref: string; dir: string; need: number; free: number }): string {
  if (o.free < o.need) {
    throw new IllegalStateError(
      `not enough free space to stage ${o.ref} beside ${o.dir}: the snapshot's copy needs ${formatBytes(o.need)}, ` +
        `the filesystem has ${formatBytes(o.free)} free; free some space or restore fewer components`,
    );
  }
  return `${formatBytes(o.need)} needed, ${formatBytes(o.free)} free on the filesystem of ${o.dir}`;
}
