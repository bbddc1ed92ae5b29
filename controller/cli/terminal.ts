/**
 * What long-running and destructive commands need beyond `CliIo`: a progress channel (stderr, redrawn in
 * place when it is a terminal) and questions to the operator (only when stdin is a terminal). Injected so
 * commands are testable without one.
 */
import { createInterface } from 'node:readline/promises';
import { CancelledError, ValidationError } from '../../shared/errors.js';
import type { ControllerApi } from './api.js';
import type { CliIo } from './io.js';

export interface Terminal {
  /** Whether the progress channel is a terminal (redraw in place) or a pipe/file (plain lines). */
  readonly progressTty: boolean;
  /** Whether stdin is a terminal, i.e. whether a question can be asked at all. */
  readonly interactive: boolean;
  /** Width of the progress terminal, when known. */
  readonly columns?: number;
  /** Writes raw text (no newline added) to the progress channel. */
  progress(raw: string): void;
  /** Asks one question on the terminal; resolves with the answer as typed. */
  ask(question: string): Promise<string>;
}

/** The dependencies of the snapshot, restore, jobs and catalog commands. */
export interface JobCommandDeps {
  api: ControllerApi;
  io: CliIo;
  term: Terminal;
}

/** The process's terminal: progress on stderr, questions on stdin/stderr. */
export const processTerminal: Terminal = {
  progressTty: process.stderr.isTTY === true,
  interactive: process.stdin.isTTY === true,
  get columns(): number | undefined {
    return process.stderr.columns;
  },
  progress: (raw) => {
    process.stderr.write(raw);
  },
  ask: async (question) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
};

export interface ConfirmOptions {
  /** `--yes` was given: no question. */
  yes: boolean;
  /** What is about to happen, e.g. `delete snapshot 'c-1' of site 'msk-1'`. */
  action: string;
}

/**
 * Asks the operator to confirm a destructive action unless `--yes` was given. Refuses (ValidationError,
 * naming `--yes`) when stdin is not a terminal; an answer other than y/yes cancels (CancelledError).
 */
export async function confirmAction(term: Terminal, opts: ConfirmOptions): Promise<void> {
  if (opts.yes) return;
  if (!term.interactive) {
    throw new ValidationError(`refusing to ${opts.action} without confirmation: stdin is not a terminal; pass --yes to confirm`, {
      field: 'yes',
    });
  }
  const answer = await term.ask(`${opts.action}? [y/N] `);
  if (!/^\s*y(es)?\s*$/i.test(answer)) {
    throw new CancelledError(`not confirmed: did not ${opts.action}`);
  }
}
