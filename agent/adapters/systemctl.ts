/**
 * ServiceManager over `systemctl` (or whatever `systemctl` is first on PATH: the dev site puts a shim
 * there via the agent's `pathPrepend`). A unit that refuses to stop or start is a typed error naming it.
 */
import { execa } from 'execa';
import { formatDuration } from '../../shared/duration.js';
import { IllegalStateError, TimeoutError, UnavailableError } from '../../shared/errors.js';
import { DEFAULT_UNIT_TIMEOUT_MS } from '../../shared/config/agent.js';
import type { ServiceManager, UnitOptions } from '../domain/ports.js';
import { pathOverride } from './path-env.js';

export class SystemctlServiceManager implements ServiceManager {
  private readonly env: NodeJS.ProcessEnv;
  private readonly timeoutMs: number;

  constructor(options: { pathPrepend?: readonly string[]; timeoutMs?: number } = {}) {
    this.env = pathOverride(options.pathPrepend ?? []);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_UNIT_TIMEOUT_MS;
  }

  async start(unit: string, options: UnitOptions = {}): Promise<void> {
    await this.run('start', unit, options);
  }

  async stop(unit: string, options: UnitOptions = {}): Promise<void> {
    await this.run('stop', unit, options);
  }

  /** Stops and starts `unit` (systemd's own restart: the unit keeps the options it runs with). */
  async restart(unit: string, options: UnitOptions = {}): Promise<void> {
    await this.run('restart', unit, options);
  }

  /** `systemctl enable|disable`: whether the unit starts at boot. */
  async setEnabled(unit: string, enabled: boolean, options: UnitOptions = {}): Promise<void> {
    await this.run(enabled ? 'enable' : 'disable', unit, options);
  }

  async isActive(unit: string): Promise<boolean> {
    const r = await execa('systemctl', ['is-active', '--quiet', unit], { env: this.env, reject: false, timeout: this.timeoutMs });
    if (r.failed && r.exitCode === undefined) {
      throw new UnavailableError(`systemctl is-active ${unit} could not run: ${r.shortMessage}`);
    }
    return r.exitCode === 0;
  }

  private async run(verb: 'start' | 'stop' | 'restart' | 'enable' | 'disable', unit: string, options: UnitOptions): Promise<void> {
    const timeout = Math.min(this.timeoutMs, options.timeoutMs ?? Infinity);
    const r = await execa('systemctl', [verb, unit], { env: this.env, reject: false, timeout, all: true });
    if (r.timedOut) {
      const by = timeout < this.timeoutMs ? "the caller's remaining deadline" : 'units.timeoutMs';
      throw new TimeoutError(`systemctl ${verb} ${unit} did not finish within ${formatDuration(timeout)} (${by}); it was killed`);
    }
    if (r.exitCode !== 0) {
      const why = (r.all ?? '').trim().split('\n').slice(-3).join(' ') || r.shortMessage;
      throw new IllegalStateError(`systemctl ${verb} ${unit} failed (exit ${r.exitCode ?? 'none'}): ${why}`);
    }
  }
}
