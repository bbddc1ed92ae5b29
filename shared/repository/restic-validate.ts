/**
 * Input checks for the restic adapter: snapshot ids, tags, paths inside a snapshot. They run before
 * restic is started so bad input fails with a `ValidationError` naming the field, not with restic's
 * own wording (or, worse, a value taken for a flag).
 */
import { ValidationError } from '../errors.js';

const SNAPSHOT_ID = /^[0-9a-f]{8,64}$/;

/** A full or short (≥ 8 hex digits) snapshot id. */
export function checkSnapshotId(id: string, field = 'snapshotId'): string {
  if (!SNAPSHOT_ID.test(id)) {
    throw new ValidationError(`invalid snapshot id '${id}': 8 to 64 lowercase hex digits expected`, { field });
  }
  return id;
}

/** Tags restic can store and filter on: non-empty, no commas (restic's list separator), no control chars. */
export function checkTags(tags: readonly string[], field = 'tags'): string[] {
  for (const tag of tags) {
    if (tag.length === 0 || tag.includes(',') || hasControlChar(tag)) {
      throw new ValidationError(`invalid tag '${tag}': must be non-empty, without commas or control characters`, {
        field,
      });
    }
  }
  return [...tags];
}

/** An absolute path inside a snapshot, normalised (no trailing '/', no empty or dot segments). */
export function checkSnapshotPath(p: string, field = 'path'): string {
  if (!p.startsWith('/') || p.includes('\0')) {
    throw new ValidationError(`invalid snapshot path '${p}': must be absolute`, { field });
  }
  const segments = p.split('/').filter((s) => s.length > 0);
  if (segments.some((s) => s === '.' || s === '..')) {
    throw new ValidationError(`invalid snapshot path '${p}': '.' and '..' are not allowed`, { field });
  }
  return `/${segments.join('/')}`;
}

/** Escapes a literal path for restic's include/exclude patterns (glob characters and backslash). */
export function escapePattern(literal: string): string {
  return literal.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

/** True when `p` is `root` or lies below it (both normalised snapshot paths). */
export function isWithin(p: string, root: string): boolean {
  return root === '/' || p === root || p.startsWith(`${root}/`);
}

/** True when `text` holds a C0 control character or DEL. */
export function hasControlChar(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

const ESC = String.fromCharCode(0x1b);
const ANSI_SEQUENCE = new RegExp(`${ESC}\\[[0-9;]*[A-Za-z]`, 'g');

/** Removes terminal escape sequences (restic's progress bars) from a line of output. */
export function stripAnsi(line: string): string {
  return line.replace(ANSI_SEQUENCE, '');
}
