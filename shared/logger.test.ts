import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

describe('logger', () => {
  it('redacts secrets at any usual depth', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const log = createLogger({ name: 't', level: 'info', destination: destination as never });
    log.info({ password: 'hunter2', repo: { url: 'rest:x', password: 'p4ss' }, job: { env: { RESTIC_PASSWORD: 's3cr3t' } } }, 'job');
    log.child({ token: 'tok123' }).info('child');
    const out = lines.join('');
    for (const secret of ['hunter2', 'p4ss', 's3cr3t', 'tok123']) expect(out).not.toContain(secret);
    expect(out).toContain('[redacted]');
    expect(out).toContain('rest:x');
  });
});
