/** Bounding a promise in time. */
import { TimeoutError } from './errors.js';

/**
 * Resolves with `promise`, or rejects with a TimeoutError(`message`) after `ms` (calling `onTimeout`
 * first). The original promise keeps running; its later rejection is swallowed.
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new TimeoutError(message));
    }, ms);
  });
  promise.catch(() => undefined);
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
