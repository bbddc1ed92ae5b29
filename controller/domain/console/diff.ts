/**
 * The web console's streams send changes only: `StateTracker` remembers what a stream last sent (each
 * row serialised) and says which rows differ in the next state. Pure.
 */
import type { StreamDiff, StreamState } from '../../console/protocol.js';

export class StateTracker {
  private sent = new Map<string, string>();

  /** The whole state (a stream's first event); remembered as sent. */
  full(state: StreamState): StreamState {
    this.sent = new Map(Object.entries(state).map(([k, v]) => [k, JSON.stringify(v)]));
    return state;
  }

  /** Rows that changed or appeared, keys that went away; undefined when nothing changed. Remembered as sent. */
  diff(state: StreamState): StreamDiff | undefined {
    const upsert: StreamState = {};
    const next = new Map<string, string>();
    for (const [k, v] of Object.entries(state)) {
      const text = JSON.stringify(v);
      next.set(k, text);
      if (this.sent.get(k) !== text) upsert[k] = v;
    }
    const remove = [...this.sent.keys()].filter((k) => !next.has(k));
    this.sent = next;
    return Object.keys(upsert).length === 0 && remove.length === 0 ? undefined : { upsert, remove };
  }
}

/** Applies a diff to a state (what the page does). */
export function applyDiff(state: StreamState, diff: StreamDiff): StreamState {
  const out: StreamState = { ...state, ...diff.upsert };
  for (const k of diff.remove) delete out[k];
  return out;
}
