/**
 * The deletion shield: what makes an uploads backup point-in-time although its walk runs after the thaw.
 *
 * FindFace deletes a dossier's or event's row first (committed), then its files. A backup that walks the
 * upload trees after the cut would miss a file deleted between the cut and the read, while the
 * PostgreSQL snapshot (taken at the cut) still references it. So each root keeps a shield,
 * `<root>/.ffk-shield/<rel>`: a hard link (same file system, no data copied) to every regular file
 * `<root>/<rel>`, made by a watcher as files appear. An unlinked live file keeps its data in the shield.
 *
 * - **Hold.** From the cut until the upload has read everything, no shield entry is removed or replaced,
 *   and a live file whose ctime is after the cut (created, renamed or replaced after it) is not linked:
 *   its link waits for the release too. A file of the cut that the watcher reaches late (its ctime is not
 *   after the cut) is still linked; a link bumps its inode's ctime, but only once it is linked. So while
 *   held, `<root>/.ffk-shield/` is the tree as of the cut: the upload backs up the shield directories
 *   themselves (one path per root, FindFace's layout inside, see driver.ts). Outside a hold the shield
 *   follows the live tree: a deleted file's link is removed and a replaced file's link re-made at once,
 *   so the shield keeps no stale data for long. Symlinks are shielded like files (a hard link to the
 *   symlink itself, never followed).
 * - **Freeze** waits (bounded, ~20 ms) for the watcher to catch up, so files written just before it are
 *   shielded. Nothing in the freeze or the cut grows with the number of files.
 * - **Upload** backs up the held shield directories (a file held there cannot vanish before the
 *   repository reads it). Its walk of the live trees and shields (selection.ts) only adds what the
 *   shield lacks: files of the cut the watcher missed, symlinks and kept empty directories (`adopt`).
 *   While the shield is watching, the walk trusts it: a name that is a regular file on both sides (and
 *   not changed since the cut, as far as the watcher saw) is not stat'ed, so the walk reads directories,
 *   not a million files.
 *   Snapshots of earlier versions listed `<root>/.ffk-shield/<rel>` per file; a restore of those folds
 *   the shield back to `<rel>` (only where the snapshot has no `<rel>` of its own).
 * - **Release** (after the upload's read, or on abort) applies what the hold deferred: links of deleted
 *   files are removed (they are in the repository now), replaced ones re-linked.
 *
 * Limits, by construction: a file rewritten in place after the cut (same inode) is in the snapshot with
 * its newer content (before the shield became the view it was left out): the shield holds the same
 * inode, not a copy; only a walk that stats every file (a degraded shield's) counts such files in
 * `newerThanCut`. A file deleted before the cut whose deletion the watcher had not processed yet is read from the shield: after a restore it is at
 * worst an orphan file (its row was gone before the cut), a warning for the integrity checker, never a
 * dangling reference. When the watcher is degraded (watch limit, errors) a full scan runs before the
 * upload's walk; files deleted between the cut and that scan may then be missed, and the artifact says so.
 */
/** What is at a live path, as the shield sees it (`file`: a regular file or a symlink, both shielded by a hard link). */
export type LiveKind = 'file' | 'dir' | 'absent' | 'other';

/** What the shield holds at the same relative path: nothing, a link to the live file, another file, a directory. */
export type ShieldKind = 'absent' | 'same' | 'stale' | 'dir';

/**
 * What to do to keep one shield path right:
 * `link` the live file in; `relink` (replace the entry with a link to the live file); `unlink` the entry;
 * `rmdir` (remove the shield directory when empty); `defer` (held: do it at release); `none`;
 * `conflict`: a live file where the shield has a directory (its entries are stale one by one; the link
 * is made once it is empty).
 */
export type ShieldAction = 'none' | 'link' | 'relink' | 'unlink' | 'rmdir' | 'defer' | 'conflict';

/**
 * The one rule of the shield, for one path. Removing or replacing a link waits for the end of a hold;
 * adding one is allowed, except while held for a live file newer than the cut (`liveAfterCut`: its ctime
 * is after the cut time), which was not in the tree at the cut.
 */
export function shieldAction(live: LiveKind, shield: ShieldKind, held: boolean, liveAfterCut = false): ShieldAction {
  if (live === 'file') {
    if (shield === 'absent') return held && liveAfterCut ? 'defer' : 'link';
    if (shield === 'same') return 'none';
    if (shield === 'dir') return held ? 'defer' : 'conflict';
    return held ? 'defer' : 'relink';
  }
  if (shield === 'absent') return 'none';
  if (shield === 'dir') {
    if (live === 'dir') return 'none';
    return held ? 'defer' : 'rmdir';
  }
  return held ? 'defer' : 'unlink';
}

/**
 * True when an inode changed at `ctimeNs` (ns since the epoch) was changed after a cut taken at `cutMs`,
 * at millisecond precision as in `withinCut` (selection.ts): a file changed in the cut's own millisecond
 * counts as before it (the safe side: an extra file, never a missing one).
 */
export function changedAfterCut(ctimeNs: bigint, cutMs: number): boolean {
  if (!Number.isFinite(cutMs)) return false;
  const ms = ctimeNs >= 0n ? ctimeNs / 1_000_000n : -((-ctimeNs + 999_999n) / 1_000_000n);
  return ms > BigInt(Math.floor(cutMs));
}
