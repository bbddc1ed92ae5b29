/**
 * The shards a migrated agent serves. After a model migration's switch its shards are the new ones
 * (`shard-011` in place of `shard-001`), while the agent's config file still names the old: the agent keeps
 * the replacement in `<cacheDir>/migrated-shards.json` and serves, backs up and restores the new shards
 * from its next start on. A rollback takes the entries out again. The config file is the operator's: it is
 * never rewritten.
 */
import path from 'node:path';
import { z } from 'zod';
import type { AgentConfig } from '../../../shared/config/agent.js';
import { ValidationError } from '../../../shared/errors.js';

export const ADOPTION_FILE = 'migrated-shards.json';

const adoptionSchema = z.object({ shards: z.record(z.string(), z.object({ portOffset: z.number().int().min(1) }).strict()) }).strict();
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

/** The adoption with `shards` served shifted by `portOffset`, or back as they are (`undo`). */
export function adopt(current: Adoption, shards: readonly string[], portOffset: number, undo: boolean): Adoption {
  const next: Adoption = { shards: { ...current.shards } };
  for (const s of shards) {
    if (undo) delete next.shards[s];
    else next.shards[s] = { portOffset };
  }
  return next;
}

type TarantoolComponent = Extract<AgentConfig['components'][number], { kind: 'tarantool' }>;

/**
 * The config the agent serves: each adopted shard replaced by its new sibling (`sibling` derives it from
 * the instance files). A shard the config no longer names is skipped with a warning.
 */
export async function servedConfig(config: AgentConfig, adoption: Adoption, sibling: (shard: TarantoolComponent, portOffset: number) => Promise<TarantoolComponent>, warn: (msg: string) => void): Promise<AgentConfig> {
  const names = new Set(config.components.filter((c) => c.kind === 'tarantool').map((c) => c.name));
  for (const s of Object.keys(adoption.shards)) if (!names.has(s)) warn(`${adoptionFileOf(config)} names shard '${s}', which the agent config does not: ignored`);
  const components: AgentConfig['components'] = [];
  for (const c of config.components) {
    const a = c.kind === 'tarantool' ? adoption.shards[c.name] : undefined;
    components.push(c.kind === 'tarantool' && a ? await sibling(c, a.portOffset) : c);
  }
  return { ...config, components };
}
