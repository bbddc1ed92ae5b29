import { describe, expect, it } from 'vitest';
import { IllegalStateError, TimeoutError } from '../../shared/errors.js';
import { deadlineFor, namingDeadline } from './deadlines.js';

const deadlines = { protocolMs: 5000, prepareMs: 300_000, unitControlMs: 120_000, checkMs: 600_000, transferMs: 86_400_000, agentReturnMs: 300_000 };

describe('agent call deadlines', () => {
  it.each([
    ['protocolMs', 5000],
    ['prepareMs', 300_000],
    ['unitControlMs', 120_000],
    ['checkMs', 600_000],
    ['transferMs', 86_400_000],
  ] as const)('%s gives its own deadline and names its setting', (kind, ms) => {
    expect(deadlineFor(deadlines, kind, 'op')).toEqual({ timeoutMs: ms, operation: 'op', setting: `agents.deadlines.${kind}` });
  });

  it('restates a timeout the agent reported so it names the operation, the deadline and the setting', () => {
    const d = deadlineFor(deadlines, 'unitControlMs', "start findface-security on host 'db'");
    const err = namingDeadline(d, new TimeoutError("systemctl start findface-security did not finish within 1m59s (the caller's remaining deadline); it was killed"));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toBe(
      "start findface-security on host 'db' did not finish within its deadline of 2m00s; the deadline is set by agents.deadlines.unitControlMs: " +
        "systemctl start findface-security did not finish within 1m59s (the caller's remaining deadline); it was killed",
    );
  });

  it('leaves other errors, and timeouts that already name the operation, as they are', () => {
    const d = deadlineFor(deadlines, 'unitControlMs', "start x on host 'db'");
    const other = new IllegalStateError('refused');
    const named = new TimeoutError("start x on host 'db' (agent a) did not finish within its deadline of 2m00s");
    expect(namingDeadline(d, other)).toBe(other);
    expect(namingDeadline(d, named)).toBe(named);
  });
});
