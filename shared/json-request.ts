/** A JSON request carried in a string field of a gRPC call, parsed by its zod schema. */
import type { z } from 'zod';
import { ValidationError } from './errors.js';

/** The parsed request; ValidationError naming `what` and each bad field otherwise. */
export function parseJsonRequest<S extends z.ZodType>(json: string, schema: S, what: string): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new ValidationError(`${what} is not JSON`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(`${what}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'op'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}
