/**
 * The one config loader: a YAML or JSON file, then environment overrides, validated by a zod schema
 * into a frozen typed config. Any problem fails with a `ConfigError` naming the file (or variable)
 * and the field.
 *
 * Environment overrides: `<PREFIX><PATH>` where PATH is the field path in upper case with `__` between
 * levels, e.g. `FFK_AGENT_NATS__SERVERS='["nats://10.0.0.1:4222"]'` or `FFK_AGENT_SITE=msk-1`.
 * A value that parses as JSON is used as such (numbers, booleans, arrays), anything else as a string.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';

export interface LoadOptions<S extends z.ZodType> {
  schema: S;
  /** Path of the config file; when undefined only the environment (and defaults) are used. */
  file?: string;
  /** Environment variable prefix such as `FFK_AGENT_`. */
  envPrefix: string;
  env?: NodeJS.ProcessEnv;
}

type Raw = Record<string, unknown>;

/** Reads a YAML/JSON file into a plain object, failing with a ConfigError that names the file. */
export function readConfigFile(file: string): Raw {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ConfigError(file, [reason], { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new ConfigError(file, [`not valid YAML/JSON: ${(err as Error).message}`], { cause: err });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(file, ['top level must be a mapping of fields']);
  }
  return parsed as Raw;
}

function envValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function camel(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Applies `<prefix>A__B_C=value` as `raw.a.bC = value`; returns the variable that set each path. */
export function applyEnvOverrides(raw: Raw, prefix: string, env: NodeJS.ProcessEnv): Map<string, string> {
  const origins = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(prefix) || value === undefined) continue;
    const path = name.slice(prefix.length).split('__').map(camel);
    if (path.some((p) => p === '')) continue;
    let target: Raw = raw;
    for (const key of path.slice(0, -1)) {
      const next = target[key];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) target[key] = {};
      target = target[key] as Raw;
    }
    target[path[path.length - 1] as string] = envValue(value);
    origins.set(path.join('.'), name);
  }
  return origins;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(top level)' : out;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Raw)) deepFreeze(child);
  }
  return value;
}

/** Loads, overrides, validates and freezes a config. */
export function loadConfig<S extends z.ZodType>(options: LoadOptions<S>): Readonly<z.output<S>> {
  const raw = options.file === undefined ? {} : readConfigFile(options.file);
  const origins = applyEnvOverrides(raw, options.envPrefix, options.env ?? process.env);
  const result = options.schema.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => {
      const field = formatPath(issue.path);
      const fromEnv = origins.get(issue.path.map(String).join('.'));
      const where = fromEnv ? ` (from environment variable ${fromEnv})` : '';
      return `${field}: ${issue.message}${where}`;
    });
    const source = options.file ?? `environment (${options.envPrefix}*)`;
    throw new ConfigError(source, issues);
  }
  return deepFreeze(result.data) as Readonly<z.output<S>>;
}
