/**
 * ServiceManager over `systemctl` (or whatever `systemctl` is first on PATH: the dev site puts a shim
 * there via the agent's `pathPrepend`). A unit that refuses to stop or start is a typed error naming it.
 */
import { execa } from 'execa';
import { IllegalStateError, UnavailableError } from '../../shared/errors.js';
import type { ServiceManager } from '../domain/ports.js';
import { pathOverride } from './path-env.js';

export class SystemctlServiceManager implements ServiceManager {
  private readonly env: NodeJS.ProcessEnv;
  private readonly timeoutMs: number;

  constructor(options: { pathPrepend?: readonly string[]; timeoutMs?: number } = {}) {
    this.env = pathOverride(options.pathPrepend ?? []);
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  async start(unit: string): Promise<void> {
    await this.run('start', unit);
  }

  async stop(unit: string): Promise<void> {
    await this.run('stop', unit);
  }

  async isActive(unit: string): Promise<boolean> {
    const r = await execa('systemctl', ['is-active', '--quiet', unit], { env: this.env, reject: false, timeout: this.timeoutMs });
    if (r.failed && r.exitCode === undefined) {
      throw new UnavailableError(`systemctl is-active ${unit} could not run: ${r.shortMessage}`);
    }
    return r.exitCode === 0;
  }

  private async run(verb: 'start' | 'stop', unit: string): Promise<void> {
    const r = await execa('systemctl', [verb, unit], { env: this.env, reject: false, timeout: this.timeoutMs, all: true });
    if (r.exitCode !== 0) {
      const why = (r.all ?? '').trim().split('\n').slice(-3).join(' ') || r.shortMessage;
      throw new IllegalStateError(`systemctl ${verb} ${unit} failed (exit ${r.exitCode ?? 'none'}): ${why}`);
    }
  }
}
