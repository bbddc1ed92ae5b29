/**
 * What discovery found and could not find, as it goes: files read, files looked for and missing, files
 * that would not parse and remarks (the output's header), and comments attached to values of the config
 * (a `guess:` comment marks a value no file gave).
 */
import { describeError } from '../../../shared/errors.js';
import type { HostTree } from './ports.js';

export type ConfigPath = readonly (string | number)[];

export interface ValueNote {
  /** Path into the config: `['components', 0, 'port']`; a component's own path puts the note before it. */
  path: ConfigPath;
  text: string;
  guess: boolean;
}

/** Comments on the values of one part of the config (paths relative to it). */
export class Notes {
  readonly list: ValueNote[] = [];

  /** A comment on a value (where it came from); `[]`: on the part itself. */
  note(path: ConfigPath, text: string): void {
    this.list.push({ path, text, guess: false });
  }

  /** A value no file gave: the comment says why this one was chosen. */
  guess(path: ConfigPath, text: string): void {
    this.list.push({ path, text, guess: true });
  }

  /** The notes with `prefix` put before their paths (a part placed into the whole config). */
  under(prefix: ConfigPath): ValueNote[] {
    return this.list.map((n) => ({ ...n, path: [...prefix, ...n.path] }));
  }
}

/** A part of the config discovery found, with its notes. */
export interface Found<T> {
  value: T;
  notes: Notes;
}

/** The files discovery read, missed and could not parse, and remarks for the output's header. */
export class DiscoveryReport {
  readonly read: string[] = [];
  readonly missing: string[] = [];
  readonly problems: string[] = [];
  readonly remarks: string[] = [];

  found(file: string): void {
    if (!this.read.includes(file)) this.read.push(file);
  }

  notFound(file: string): void {
    if (!this.missing.includes(file)) this.missing.push(file);
  }

  problem(file: string, err: unknown): void {
    this.problems.push(`${file}: ${describeError(err)}`);
  }

  remark(text: string): void {
    this.remarks.push(text);
  }
}

/**
 * The first of `candidates` (host paths) that exists, parsed: recorded as read, or as a problem when it
 * would not parse (undefined then). When none exists, each is recorded as missing.
 */
export function readFirst<T>(
  tree: HostTree,
  report: DiscoveryReport,
  candidates: readonly string[],
  parse: (text: string, file: string) => T,
): { file: string; value: T } | undefined {
  for (const hostPath of candidates) {
    const text = tree.read(hostPath);
    if (text === undefined) continue;
    const file = tree.where(hostPath);
    try {
      const value = parse(text, file);
      report.found(file);
      return { file, value };
    } catch (err) {
      report.problem(file, err);
      return undefined;
    }
  }
  for (const hostPath of candidates) report.notFound(tree.where(hostPath));
  return undefined;
}
