/**
 * Checks of what a backup records and a restore is about to place: only files, directories and symlinks,
 * with plain names (anything else is refused), and which symlinks resolve outside the directory they are
 * in (their boundary). Such a symlink is backed up and restored as the symlink it is — nothing is ever
 * written through it — and named as a warning in the manifest and in the restore's check step.
 *
 * Symlinks are resolved the way the kernel will once they are in place — component by component,
 * following the other symlinks of the same tree — not lexically: `s/..` where `s` links to the boundary
 * itself climbs out of it even though it looks harmless written down. A path that leaves the boundary
 * at any point is reported, even if it would come back: outside the boundary the live system decides
 * what a name means, and a restore must not depend on it. Absolute targets are accepted only when they
 * name a place inside the boundary literally.
 */
import path from 'node:path';
import type { TreeEntry } from './ports.js';

/** Nesting of symlinks followed before giving up (the kernel's limit). */
const MAX_LINK_DEPTH = 40;

/** Why an entry may not be placed, or undefined when it may. Symlinks are checked by `SymlinkChecker`. */
export function entryProblem(entry: TreeEntry): string | undefined {
  const name = path.posix.basename(entry.path);
  if (name === '' || name === '.' || name === '..' || name.includes('\0')) return `has an invalid name '${name}'`;
  switch (entry.type) {
    case 'other':
      return `is a ${entry.what}, not a file, directory or symlink`;
    case 'unreadable':
      return `could not be read (${entry.message})`;
    default:
      return undefined;
  }
}

function components(p: string): string[] {
  return p.split('/').filter((c) => c.length > 0);
}

type Resolution = { ok: true; parts: string[] } | { ok: false; reason: string };

/** Resolves symlinks of one tree inside a boundary directory; see the module comment. */
export class SymlinkChecker {
  private readonly boundary: string[];
  private readonly links = new Map<string, string>();
  private readonly memo = new Map<string, Resolution>();

  /** `boundary`: absolute path of the directory everything must stay in. */
  constructor(boundary: string) {
    this.boundary = components(path.posix.resolve(boundary));
  }

  /** Registers a symlink found at `linkPath` (absolute, where it will be placed) pointing at `target`. */
  add(linkPath: string, target: string): void {
    this.links.set(path.posix.resolve(linkPath), target);
  }

  /** Every registered symlink that resolves outside the boundary, with the reason; empty when all are safe. */
  problems(): { entry: string; target: string; reason: string }[] {
    const out: { entry: string; target: string; reason: string }[] = [];
    for (const [linkPath, target] of this.links) {
      const r = this.resolveLink(linkPath, 0);
      if (!r.ok) out.push({ entry: linkPath, target, reason: `is a symlink to '${target}', which ${r.reason}` });
    }
    return out;
  }

  private get boundaryPath(): string {
    return `/${this.boundary.join('/')}`;
  }

  private resolveLink(linkPath: string, depth: number): Resolution {
    const cached = this.memo.get(linkPath);
    if (cached) return cached;
    if (depth > MAX_LINK_DEPTH) return { ok: false, reason: `nests more than ${MAX_LINK_DEPTH} symlinks (a loop?)` };
    const target = this.links.get(linkPath) ?? '';
    const result = this.resolveTarget(linkPath, target, depth);
    this.memo.set(linkPath, result);
    return result;
  }

  private start(linkPath: string, target: string): Resolution {
    if (!target.startsWith('/')) return { ok: true, parts: components(path.posix.dirname(linkPath)) };
    const parts = components(target);
    const inside = this.boundary.every((c, i) => parts[i] === c);
    if (!inside) return { ok: false, reason: `points outside '${this.boundaryPath}'` };
    return { ok: true, parts: this.boundary.slice() };
  }

  private resolveTarget(linkPath: string, target: string, depth: number): Resolution {
    const begin = this.start(linkPath, target);
    if (!begin.ok) return begin;
    let parts = begin.parts;
    const rest = target.startsWith('/') ? components(target).slice(this.boundary.length) : components(target);
    for (const c of rest) {
      if (c === '.') continue;
      if (c === '..') {
        if (parts.length <= this.boundary.length) return { ok: false, reason: `climbs out of '${this.boundaryPath}'` };
        parts = parts.slice(0, -1);
        continue;
      }
      parts = [...parts, c];
      const here = `/${parts.join('/')}`;
      if (!this.links.has(here)) continue;
      const inner = this.resolveLink(here, depth + 1);
      if (!inner.ok) return { ok: false, reason: `goes through '${here}', which ${inner.reason}` };
      parts = inner.parts;
    }
    return { ok: true, parts };
  }
}
