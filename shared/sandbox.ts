/**
 * Sandboxes of a verify drill (DESIGN.md §7): a snapshot's components restored not onto the live site but
 * into places an agent owns — a scratch PostgreSQL database, scratch Tarantool instances started from the
 * checkpoint files, temp directories of upload files. This module says where each sandboxed component can
 * be reached; agents report it after a sandbox restore, the controller merges the reports of every host,
 * and the site's integrity check gets the merged description (as a JSON file named by `FFK_SANDBOX`).
 */
import { z } from 'zod';
import { ValidationError } from './errors.js';

/** Environment variable naming the JSON file with the sandbox description an integrity check must check. */
export const SANDBOX_ENV = 'FFK_SANDBOX';

/** A sandbox id: what the agent names its directory and scratch resources after (the verify job id). */
export const SANDBOX_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

const postgresSchema = z.object({
  kind: z.literal('postgres'),
  /** `postgres:<name>` */
  component: z.string().min(1),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  /** The scratch database the dump was loaded into. */
  database: z.string().min(1),
  /** The database's owner (the role the site's application connects as). */
  owner: z.string().min(1),
});

const tarantoolSchema = z.object({
  kind: z.literal('tarantool'),
  /** `tarantool:<name>` */
  component: z.string().min(1),
  /** The shard's name (`shard-001`). */
  name: z.string().min(1),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
});

const uploadsSchema = z.object({
  kind: z.literal('uploads'),
  /** `uploads:<name>` */
  component: z.string().min(1),
  /** Each configured upload root and where its restored copy is. */
  roots: z.array(z.object({ original: z.string().min(1), restored: z.string().min(1) })),
});

export const sandboxComponentSchema = z.discriminatedUnion('kind', [postgresSchema, tarantoolSchema, uploadsSchema]);

/** Where one sandboxed component can be reached. */
export type SandboxComponent = z.infer<typeof sandboxComponentSchema>;

export const sandboxDescriptionSchema = z.object({
  sandboxId: z.string().regex(SANDBOX_ID),
  /** The snapshot restored into the sandbox. */
  snapshotId: z.string().min(1),
  site: z.string().min(1),
  components: z.array(sandboxComponentSchema.and(z.object({ agentHost: z.string().min(1) }))),
});

/** Every sandboxed component of one drill, on every host (`agentHost`: the agent that holds it). */
export type SandboxDescription = z.infer<typeof sandboxDescriptionSchema>;

/** Throws a ValidationError unless `id` can name a sandbox. */
export function checkSandboxId(id: string): string {
  if (!SANDBOX_ID.test(id) || id.includes('..')) {
    throw new ValidationError(`sandbox id '${id}' must be letters, digits, '-', '_' or '.' (at most 128)`, { field: 'sandboxId' });
  }
  return id;
}

function parseJson<T>(json: string, schema: z.ZodType<T>, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new ValidationError(`${what} is not JSON: ${(err as Error).message}`, { field: 'sandbox', cause: err });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(`${what} is not a sandbox description: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`, { field: 'sandbox' });
  }
  return parsed.data;
}

/** Reads a sandbox description (the JSON an integrity check gets); throws a ValidationError naming `what`. */
export function parseSandboxDescription(json: string, what = 'sandbox description'): SandboxDescription {
  return parseJson(json, sandboxDescriptionSchema, what);
}

/** Reads the sandboxed components one agent reported. */
export function parseSandboxComponents(json: string, what = 'sandbox components'): SandboxComponent[] {
  return parseJson(json, z.array(sandboxComponentSchema), what);
}
