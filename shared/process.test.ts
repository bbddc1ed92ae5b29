import { describe, expect, it, vi } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger } from './logger.js';
import { reportingStart, startupProgress } from './process.js';

function capture(): { lines: Array<{ level: number; msg: string; stage?: string }>; stream: Writable } {
  const lines: Array<{ level: number; msg: string; stage?: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as { level: number; msg: string });
      cb();
    },
  });
  return { lines, stream };
}

describe('startupProgress', () => {
  it('logs each stage at debug and warns, naming the stage, while one lasts; nothing after done()', () => {
    vi.useFakeTimers();
    try {
      const { lines, stream } = capture();
      const progress = startupProgress(createLogger({ name: 't', level: 'debug', destination: stream }), 1000);
      progress.stage('connecting to NATS');
      vi.advanceTimersByTime(500);
      progress.stage('opening the fleet buckets');
      vi.advanceTimersByTime(2600);
      progress.done();
      vi.advanceTimersByTime(5000);
      expect(lines.map((l) => l.msg)).toEqual([
        'starting: connecting to NATS',
        'starting: opening the fleet buckets',
        'still starting: opening the fleet buckets for 1 s',
        'still starting: opening the fleet buckets for 2 s',
      ]);
      expect(lines.map((l) => l.level)).toEqual([20, 20, 40, 40]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('reportingStart stops reporting once the start has failed', async () => {
    vi.useFakeTimers();
    try {
      const { lines, stream } = capture();
      const logger = createLogger({ name: 't', level: 'debug', destination: stream });
      const failed = reportingStart(logger, (progress) => {
        progress.stage('opening the fleet buckets');
        return Promise.reject(new Error('no JetStream'));
      });
      await expect(failed).rejects.toThrow('no JetStream');
      vi.advanceTimersByTime(60_000);
      expect(lines.map((l) => l.msg)).toEqual(['starting: opening the fleet buckets']);
    } finally {
      vi.useRealTimers();
    }
  });
});
