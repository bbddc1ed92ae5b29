/**
 * `AppCommands` over the `findface-security` management command (first on the agent's PATH, so the dev
 * site's shim is found through `pathPrepend`): `migrate`, `create_groups`, `create_default_user`.
 */
import { execa } from 'execa';
import { IllegalStateError, UnavailableError } from '../../../shared/errors.js';
import type { AppCommand, AppCommands } from '../../domain/drivers/postgres/ports.js';
import { findProgram, tail, toolEnv } from './connection.js';

export const DEFAULT_APP_PROGRAM = 'findface-security';
/** `migrate` on a large database can take a while. */
export const DEFAULT_APP_COMMAND_TIMEOUT_MS = 30 * 60_000;

/** Runs `<program> <command>` with the agent's PATH. */
export class FindfaceSecurityCommands implements AppCommands {
  readonly program: string;
  private readonly env: Record<string, string>;
  private readonly timeoutMs: number;

  constructor(options: { pathPrepend?: readonly string[]; program?: string; timeoutMs?: number } = {}) {
    this.program = options.program ?? DEFAULT_APP_PROGRAM;
    this.env = toolEnv(options.pathPrepend ?? []);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_APP_COMMAND_TIMEOUT_MS;
  }

  async check(): Promise<void> {
    if ((await findProgram(this.program, this.env)) === undefined) {
      throw new UnavailableError(`${this.program} not found on PATH (${this.env.PATH})`);
    }
  }

  async run(command: AppCommand): Promise<void> {
    const r = await execa(this.program, [command], {
      env: this.env,
      extendEnv: false,
      stdin: 'ignore',
      all: true,
      reject: false,
      timeout: this.timeoutMs,
    });
    if (r.exitCode === 0) return;
    const why = tail(typeof r.all === 'string' ? r.all : '') || r.shortMessage;
    const how = r.timedOut ? `timed out after ${this.timeoutMs} ms` : `exit ${r.exitCode ?? r.signal ?? 'none'}`;
    throw new IllegalStateError(`${this.program} ${command} failed (${how}): ${why}`);
  }
}
