/** CommandRunner over execa, with the agent's `pathPrepend` first on PATH. */
import { execa } from 'execa';
import type { CommandRunner } from '../domain/integrity.js';
import { pathOverride } from './path-env.js';

export function commandRunner(pathPrepend: readonly string[]): CommandRunner {
  const env = pathOverride(pathPrepend);
  return async (command, timeoutMs, extraEnv = {}) => {
    const [file, ...args] = command;
    if (!file) throw new Error('empty command');
    const r = await execa(file, args, { env: { ...env, ...extraEnv }, reject: false, timeout: timeoutMs });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  };
}
