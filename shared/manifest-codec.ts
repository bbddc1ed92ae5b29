/** Writing and reading manifests as JSON, validated so a damaged manifest is named, not trusted. */
import { z } from 'zod';
import { ValidationError } from './errors.js';
import { MANIFEST_VERSION, type Manifest } from './manifest.js';

const date = z.coerce.date();
const cutSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('postgres'), component: z.string(), time: date, snapshotName: z.string(), lsn: z.string() }),
  z.object({
    kind: z.literal('tarantool'),
    component: z.string(),
    time: date,
    vclock: z.record(z.string(), z.number()),
    signature: z.number(),
  }),
  z.object({ kind: z.literal('uploads'), component: z.string(), time: date }),
]);

const componentSchema = z.object({
  host: z.string(),
  component: z.string(),
  kind: z.enum(['postgres', 'tarantool', 'uploads']),
  cut: cutSchema,
  snapshotIds: z.array(z.string()).min(1),
  bytes: z.number(),
  files: z.number(),
  dataAddedBytes: z.number(),
  checksums: z.record(z.string(), z.string()).optional(),
  missing: z.array(z.string()).optional(),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});

const manifestSchema = z.object({
  version: z.literal(MANIFEST_VERSION),
  site: z.string(),
  cutId: z.string(),
  jobId: z.string(),
  reason: z.string(),
  createdAt: date,
  sealedAt: date,
  freezeWindowMs: z.number(),
  agents: z.array(z.object({ host: z.string(), components: z.array(z.string()), freezeWindowMs: z.number() })),
  freezeSteps: z.array(z.object({ step: z.string(), ms: z.number() })).optional(),
  components: z.array(componentSchema).min(1),
  totals: z.object({ bytes: z.number(), files: z.number(), dataAddedBytes: z.number() }),
  models: z.record(z.string(), z.string()),
});

export function encodeManifest(m: Manifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** Parses a manifest; `source` names where it came from in the error. */
export function decodeManifest(json: string, source: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new ValidationError(`manifest from ${source} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const r = manifestSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    const field = first ? first.path.join('.') : '';
    throw new ValidationError(`manifest from ${source} is invalid: ${field}: ${first?.message ?? 'unknown'}`, { field });
  }
  return r.data as Manifest;
}
