/**
 * Follows a view of the console's server (`/api/stream`): the whole state once, then only changes
 * (controller/console/protocol.ts); calls `render` with the current state after each.
 */
import type { ConsoleError, StreamDiff, StreamState } from '../protocol.js';

const FINAL_PROBLEMS = ['PERMISSION_DENIED', 'NOT_FOUND', 'VALIDATION'];

export interface ViewStream {
  close(): void;
}

export function followView(
  query: string,
  handlers: { render: (state: StreamState) => void; problem: (p: ConsoleError | undefined) => void; ended: (reason: string) => void },
): ViewStream {
  let state: StreamState = {};
  const source = new EventSource(`/api/stream?${query}`);
  source.addEventListener('full', (e) => {
    state = JSON.parse((e as MessageEvent<string>).data) as StreamState;
    handlers.problem(undefined);
    handlers.render(state);
  });
  source.addEventListener('diff', (e) => {
    const diff = JSON.parse((e as MessageEvent<string>).data) as StreamDiff;
    const next: StreamState = { ...state, ...diff.upsert };
    for (const k of diff.remove) delete next[k];
    state = next;
    handlers.problem(undefined);
    handlers.render(state);
  });
  source.addEventListener('problem', (e) => {
    const p = JSON.parse((e as MessageEvent<string>).data) as ConsoleError;
    // Refused or not there: asking again would not change that (the server has ended the stream).
    if (FINAL_PROBLEMS.includes(p.code)) source.close();
    handlers.problem(p);
  });
  source.addEventListener('end', (e) => {
    source.close();
    handlers.ended((JSON.parse((e as MessageEvent<string>).data) as { reason: string }).reason);
  });
  source.addEventListener('error', () => {
    // Closed for good (e.g. 401 after the session went away): the page decides what next.
    if (source.readyState === EventSource.CLOSED) handlers.ended('the connection to the controller was closed');
  });
  return { close: () => source.close() };
}

/** Rows of a state whose keys start with `prefix`, in key order. */
export function rows<T>(state: StreamState, prefix: string): T[] {
  return Object.keys(state)
    .filter((k) => k.startsWith(prefix))
    .sort()
    .map((k) => state[k] as T);
}
