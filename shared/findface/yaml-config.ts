/**
 * What FindFace's YAML `.ini` files share (findface-sf-api.ini, findface-extraction-api.ini): parsing
 * against a schema with a ValidationError that names the file and field, and the `listen: host:port`
 * setting. Pure: no file access.
 */
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ValidationError } from '../errors.js';

/** The document checked against `schema`, and as plain data (for settings the schema leaves loose). */
export function parseYamlConfig<S extends z.ZodType>(text: string, file: string, schema: S): { config: z.infer<S>; raw: unknown } {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new ValidationError(`${file}: not YAML: ${doc.errors[0]?.message ?? ''}`, { field: 'document' });
  const raw = doc.toJS() as unknown;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') ?? '';
    throw new ValidationError(`${file}: ${field || 'document'}: ${issue?.message ?? 'invalid'}`, { field });
  }
  return { config: parsed.data as z.infer<S>, raw };
}

/** `listen: host:port` (an empty host is every address). */
export function listenOf(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  return { host: listen.slice(0, colon) || '0.0.0.0', port: Number(listen.slice(colon + 1)) };
}
