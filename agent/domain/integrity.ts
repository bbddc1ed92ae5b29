/** Runs the site's configured integrity check and reads its JSON verdict. */
import { InternalError } from '../../shared/errors.js';

export interface IntegrityVerdict {
  configured: boolean;
  ok: boolean;
  errors: number;
  warnings: number;
  summary: string;
}

/** Runs a command (with `env` added to its environment); resolves with its exit code and output (never rejects on a non-zero exit). */
export type CommandRunner = (
  command: readonly string[],
  timeoutMs: number,
  env?: Record<string, string>,
) => Promise<{ exitCode: number; stdout: string; stderr: string }>;

export async function runIntegrityCheck(
  check: { command: readonly string[]; timeoutMs: number } | undefined,
  run: CommandRunner,
  env?: Record<string, string>,
): Promise<IntegrityVerdict> {
  if (!check) return { configured: false, ok: true, errors: 0, warnings: 0, summary: 'no integrity check configured on this agent' };
  const r = await run(check.command, check.timeoutMs, env);
  let parsed: { errors?: unknown; warnings?: unknown; ok?: unknown; site?: unknown } | undefined;
  try {
    parsed = JSON.parse(r.stdout) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed.errors !== 'number' || typeof parsed.warnings !== 'number') {
    const tail = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ');
    throw new InternalError(`integrity check '${check.command.join(' ')}' did not print a verdict (exit ${r.exitCode}): ${tail}`);
  }
  const ok = parsed.errors === 0;
  return {
    configured: true,
    ok,
    errors: parsed.errors,
    warnings: parsed.warnings,
    summary: `${ok ? 'consistent' : 'INCONSISTENT'}: ${parsed.errors} error(s), ${parsed.warnings} warning(s)`,
  };
}
