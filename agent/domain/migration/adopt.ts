/**
 * The shards a migrated agent serves. After a model migration's switch its shards are the new ones
 * (`shard-011` in place of `shard-001`), while the agent's config file still names the old: the agent keeps
 * the replacement in `<cacheDir>/migrated-shards.json` and serves, backs up and restores the new shards
 * from its next start on. A rollback takes the entries out again. The config file is the operator's: it is
 * never rewritten.
 */
import path from 'node:path';
import { z } from 'zod';
import { componentSchema, type AgentConfig } from '../../../shared/config/agent.js';
import { ValidationError } from '../../../shared/errors.js';

export const ADOPTION_FILE = 'migrated-shards.json';

const adoptionSchema = z
  .object({
    shards: z.record(
      z.string(),
      z
        .object({
          portOffset: z.number().int().min(1),
          /** The new shard as the agent serves it (kept whole: the old shard's files may be removed by `migrate finish`). */
          component: z.object({ kind: z.literal('tarantool'), name: z.string().min(1) }).loose(),
        })
        .strict(),
    ),
  })
  .strict();
export type Adoption = z.infer<typeof adoptionSchema>;

export function adoptionFileOf(config: Pick<AgentConfig, 'cacheDir'>): string {
  return path.join(config.cacheDir, ADOPTION_FILE);
}

export function parseAdoption(text: string, file: string): Adoption {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`${file}: not JSON: ${(err as Error).message}`, { field: 'migrated-shards' });
  }
  const r = adoptionSchema.safeParse(raw);
  if (!r.success) throw new ValidationError(`${file}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, { field: 'migrated-shards' });
  return r.data;
}

type TarantoolComponent = Extract<AgentConfig['components'][number], { kind: 'tarantool' }>;

/** The adoption with each of `shards` served as its new sibling, or back as it is (`undo`: the components are not needed). */
export function adopt(current: Adoption, shards: ReadonlyMap<string, TarantoolComponent | undefined>, portOffset: number, undo: boolean): Adoption {
  const next: Adoption = { shards: { ...current.shards } };
  for (const [s, component] of shards) {
    if (undo || !component) delete next.shards[s];
    else next.shards[s] = { portOffset, component };
  }
  return next;
}

/**
 * The config the agent serves: each adopted shard replaced by its new sibling as adopted, checked against
 * the agent's config schema. A shard the config no longer names is skipped with a warning.
 */
export function servedConfig(config: AgentConfig, adoption: Adoption, file: string, warn: (msg: string) => void): AgentConfig {
  const names = new Set(config.components.filter((c) => c.kind === 'tarantool').map((c) => c.name));
  for (const s of Object.keys(adoption.shards)) if (!names.has(s)) warn(`${file} names shard '${s}', which the agent config does not: ignored`);
  const components = config.components.map((c) => {
    const a = c.kind === 'tarantool' ? adoption.shards[c.name] : undefined;
    if (!a) return c;
    const parsed = componentSchema.safeParse(a.component);
    if (!parsed.success || parsed.data.kind !== 'tarantool') throw new ValidationError(`${file}: shards.${c.name}.component is no Tarantool component: ${parsed.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') ?? 'another kind'}`, { field: 'migrated-shards' });
    return parsed.data;
  });
  return { ...config, components };
}
