/** A driver for agent-level unit tests: every method rejects ('not used') unless the test overrides it. */
import type { ComponentDriver } from './types.js';

export function unusedDriver(ref: string): ComponentDriver {
  const [kind, name] = ref.split(':') as [ComponentDriver['kind'], string];
  const unused = (): Promise<never> => Promise.reject(new Error('not used'));
  const recoverStaged = (): never => {
    throw new Error('not used');
  };
  return { kind, name, ref, prepare: unused, freeze: unused, cut: unused, thaw: unused, upload: unused, release: unused, restore: unused, stage: unused, recoverStaged };
}
