/**
 * A web console view as Server-Sent Events: the whole state once (`event: full`), then only what changed
 * (`event: diff`, controller/domain/console/diff.ts), looked for every `pollMs`; a comment line when nothing
 * was sent for `keepAliveMs`, so proxies keep the connection. An idle open page costs a few bytes a minute.
 * The stream ends when the session expires (`event: end`) or when the view is refused (`event: problem`).
 */
import type { ServerResponse } from 'node:http';
import { describeError, PermissionDeniedError, toFfkError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { StreamState } from '../../console/protocol.js';
import { StateTracker } from '../../domain/console/diff.js';

export const STREAM_POLL_MS = 1000;
export const STREAM_KEEPALIVE_MS = 25_000;

export interface StreamOptions {
  /** The view's state now (throws when it cannot be had). */
  compute: () => Promise<StreamState>;
  expiresAt: Date;
  logger: Logger;
  pollMs?: number;
  keepAliveMs?: number;
}

const event = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

/** Serves one stream on `res` until the client goes away, the session expires or the view is refused. */
export function serveStream(res: ServerResponse, options: StreamOptions): void {
  const pollMs = options.pollMs ?? STREAM_POLL_MS;
  const keepAliveMs = options.keepAliveMs ?? STREAM_KEEPALIVE_MS;
  const tracker = new StateTracker();
  let first = true;
  let closed = false;
  let lastWrite = Date.now();
  let lastProblem = '';
  let timer: NodeJS.Timeout | undefined;
  const write = (text: string): void => {
    res.write(text);
    lastWrite = Date.now();
  };
  const end = (name: string, data: unknown): void => {
    if (closed) return;
    write(event(name, data));
    stop();
    res.end();
  };
  const stop = (): void => {
    closed = true;
    if (timer) clearTimeout(timer);
    clearTimeout(expiry);
  };
  const tick = async (): Promise<void> => {
    try {
      const state = await options.compute();
      if (closed) return;
      lastProblem = '';
      if (first) write(event('full', tracker.full(state)));
      else {
        const diff = tracker.diff(state);
        if (diff) write(event('diff', diff));
      }
      first = false;
    } catch (err) {
      if (closed) return;
      const e = toFfkError(err);
      if (e instanceof PermissionDeniedError || e.code === 'NOT_FOUND' || e.code === 'VALIDATION') return end('problem', { code: e.code, message: e.message });
      // Something the controller depends on is down for a moment: say so once, keep trying.
      const message = describeError(e);
      if (message !== lastProblem) write(event('problem', { code: e.code, message }));
      lastProblem = message;
      options.logger.debug({ err }, 'console stream: could not compute the view');
    }
    if (!closed && Date.now() - lastWrite >= keepAliveMs) write(': keep-alive\n\n');
    if (!closed) timer = setTimeout(() => void tick(), Math.min(pollMs, keepAliveMs));
  };
  const expiry = setTimeout(() => end('end', { reason: 'the session expired: log in again with a console token' }), Math.max(0, options.expiresAt.getTime() - Date.now()));
  res.on('close', stop);
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  // Reconnect after 5 s (EventSource's default is 3 s).
  write('retry: 5000\n\n');
  void tick();
}
