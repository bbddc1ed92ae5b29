/**
 * The deletion shield: what makes an uploads backup point-in-time although its walk runs after the thaw.
 *
 * FindFace deletes a dossier's or event's row first (committed), then its files. A backup that walks the
 * upload trees after the cut would miss a file deleted between the cut and the read, while the
 * PostgreSQL snapshot (taken at the cut) still references it. So each root keeps a shield,
 * `<root>/.ffk-shield/<rel>`: a hard link (same file system, no data copied) to every regular file
 * `<root>/<rel>`, made by a watcher as files appear. An unlinked live file keeps its data in the shield.
 *
 * - **Hold.** From the cut until the upload has read everything, no shield entry is removed or replaced;
 *   new files are still linked. Outside a hold the shield follows the live tree: a deleted file's link
 *   is removed and a replaced file's link re-made at once, so the shield keeps no stale data for long.
 * - **Freeze** waits (bounded, ~20 ms) for the watcher to catch up, so files written just before it are
 *   shielded. Nothing in the freeze or the cut grows with the number of files.
 * - **Upload** reads every file it can through the shield (a file held there cannot vanish before the
 *   repository reads it): a live file not newer than the cut is read from its shield link when the link
 *   is the same inode, else from the live path; a shield file whose live path is gone, or holds a file
 *   newer than the cut (replaced after it), is read from the shield when it is not newer than the cut.
 *   So the snapshot holds `<root>/.ffk-shield/<rel>` for most files, and a restore folds the shield back
 *   to `<rel>` (only where the snapshot has no `<rel>` of its own): restored trees have the live layout.
 * - **Release** (after the upload's read, or on abort) applies what the hold deferred: links of deleted
 *   files are removed (they are in the repository now), replaced ones re-linked.
 *
 * Limits, by construction: a file rewritten in place after the cut (same inode) is newer than the cut
 * and left out, as before — the shield holds the same inode, not a copy. A file deleted before the cut
 * whose deletion the watcher had not processed yet is read from the shield: after a restore it is at
 * worst an orphan file (its row was gone before the cut), a warning for the integrity checker, never a
 * dangling reference. When the watcher is degraded (watch limit, errors) a full scan runs before the
 * upload's walk; files deleted between the cut and that scan may then be missed, and the artifact says so.
 */
/** What is at a live path, as the shield sees it. */
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

/** The one rule of the shield, for one path. Adding a link is always allowed; removing or replacing one waits for the end of a hold. */
export function shieldAction(live: LiveKind, shield: ShieldKind, held: boolean): ShieldAction {
  if (live === 'file') {
    if (shield === 'absent') return 'link';
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
