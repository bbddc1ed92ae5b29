/**
 * Agent discovery (`ffkeeper-agent discover`): the agent config for the FindFace components on a host,
 * read from FindFace's own files through a `HostTree`, each value with where it came from and each
 * guess marked. Which parts go into the config is chosen by the caller (a real host: all it holds; the
 * dev site, whose one tree serves its `db`, `tnt` and `files` agents: the parts of one of them). Fields
 * that are ffkeeper's own (NATS servers, TLS files) are FindFace-independent guesses; every other field
 * of the agent config is left to its schema default.
 */
import type { z } from 'zod';
import { agentConfigSchema, type AgentConfig } from '../../../shared/config/agent.js';
import { DEFAULT_NATS_URL } from '../../../shared/config/common.js';
import { ConfigError, ValidationError } from '../../../shared/errors.js';
import { isValidId } from '../../../shared/ids.js';
import { parseExtractionApiConfig } from '../../../shared/findface/extraction-api-ini.js';
import { DEFAULT_TLS_DIR, EXTRACTION_API_INI } from './layout.js';
import type { HostTree } from './ports.js';
import { discoverDatabase, findfaceSecurityOf, readSecurityConfig } from './postgres.js';
import { DiscoveryReport, Notes, readFirst, type Found, type ValueNote } from './report.js';
import { discoverShards } from './tarantool.js';
import { discoverUploads } from './uploads.js';

/** What discovery can put into a config: the component kinds, findface-security (`findfaceSecurity`) and findface-extraction-api (`extractionApi`). */
export const DISCOVER_PARTS = ['postgres', 'findface-security', 'tarantool', 'sf-api', 'extraction-api', 'uploads'] as const;
export type DiscoverPart = (typeof DISCOVER_PARTS)[number];

type AgentConfigInput = z.input<typeof agentConfigSchema>;
type ComponentInput = NonNullable<AgentConfigInput['components']>[number];

export interface DiscoverOptions {
  /** This machine's host name: the agent's `host` unless `host` is given, and the base of a guessed site. */
  hostName: string;
  site?: string;
  host?: string;
  /** The parts to look for and put in; default: every part. */
  parts?: readonly DiscoverPart[];
  /** NATS servers; default: a guess (the local server). */
  nats?: readonly string[];
  /** Where the agent's TLS files and NATS seed are (`ffkeeper-agent enrol --out`); default /etc/ffkeeper/tls. */
  tlsDir?: string;
}

export interface Discovery {
  /** The config as it would be written (before schema defaults). */
  raw: AgentConfigInput;
  /** The same, parsed by the agent's schema (what the agent would run with). */
  config: AgentConfig;
  /** Comments on values of `raw`; `guess` ones mark values no file gave. */
  notes: ValueNote[];
  report: DiscoveryReport;
  /** The parts found (empty: nothing usable). */
  found: DiscoverPart[];
}

/** Parses `--components a,b`; ValidationError naming an unknown part. */
export function parseParts(list: string): DiscoverPart[] {
  const parts = list.split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of parts) {
    if (!(DISCOVER_PARTS as readonly string[]).includes(p)) throw new ValidationError(`unknown component '${p}': one of ${DISCOVER_PARTS.join(', ')}`, { field: 'components' });
  }
  if (parts.length === 0) throw new ValidationError(`no component named: one or more of ${DISCOVER_PARTS.join(', ')}`, { field: 'components' });
  return parts as DiscoverPart[];
}

/** An id from a host name (`ff-db01.msk.example` → `ff-db01`). */
export function idFromHostName(hostName: string): string {
  const id = (hostName.split('.')[0] ?? '').replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 63);
  return isValidId(id) ? id : 'findface-host';
}

function checkId(value: string | undefined, field: string): void {
  if (value !== undefined && !isValidId(value)) throw new ValidationError(`--${field} '${value}' must be 1-63 letters, digits, "-" or "_"`, { field });
}

/** What the selected parts of the host are. */
type ExtractionApiInput = NonNullable<AgentConfigInput['extractionApi']>;

/** `extractionApi` of the agent config, when the host has findface-extraction-api's config. */
function discoverExtractionApi(tree: HostTree, report: DiscoveryReport): Found<ExtractionApiInput> | undefined {
  const found = readFirst(tree, report, [EXTRACTION_API_INI], parseExtractionApiConfig);
  if (!found) return undefined;
  const notes = new Notes();
  notes.note([], `from ${found.file}: faces extracted with ${found.value.models.face?.file ?? 'no model'}`);
  notes.guess(['unit'], "FindFace's unit name (not checked)");
  return { value: { configPath: found.file, unit: 'findface-extraction-api' }, notes };
}

function discoverParts(
  tree: HostTree,
  report: DiscoveryReport,
  want: (p: DiscoverPart) => boolean,
): { components: Found<ComponentInput>[]; security?: Found<NonNullable<AgentConfigInput['findfaceSecurity']>>; extraction?: Found<ExtractionApiInput> } {
  const needsConfigPy = want('postgres') || want('findface-security') || want('uploads');
  const securityConfig = needsConfigPy ? readSecurityConfig(tree, report) : undefined;
  const components: Found<ComponentInput>[] = [];
  const db = want('postgres') ? discoverDatabase(tree, report, securityConfig) : undefined;
  if (db) components.push(db);
  if (want('tarantool') || want('sf-api')) {
    const { shards, sfApi } = discoverShards(tree, report);
    if (want('tarantool')) components.push(...shards);
    if (want('sf-api') && sfApi) components.push(sfApi);
  }
  const extraction = want('extraction-api') ? discoverExtractionApi(tree, report) : undefined;
  const uploads = want('uploads') ? discoverUploads(tree, report, securityConfig) : undefined;
  if (uploads) components.push(uploads);
  const security = want('findface-security') && securityConfig ? findfaceSecurityOf(securityConfig) : undefined;
  return { components, ...(security ? { security } : {}), ...(extraction ? { extraction } : {}) };
}

/** Discovers the agent config of the host `tree` holds. Throws only for bad options. */
export function discover(tree: HostTree, options: DiscoverOptions): Discovery {
  checkId(options.site, 'site');
  checkId(options.host, 'host');
  const parts = options.parts ?? DISCOVER_PARTS;
  const report = new DiscoveryReport();
  const { components, security, extraction } = discoverParts(tree, report, (p) => parts.includes(p));
  const top = new Notes();
  const site = options.site ?? idFromHostName(options.hostName);
  if (!options.site) top.guess(['site'], 'no FindFace file names the site: from the host name (--site)');
  const host = options.host ?? idFromHostName(options.hostName);
  if (!options.host) top.note(['host'], "this machine's host name (--host)");
  const tlsDir = options.tlsDir ?? DEFAULT_TLS_DIR;
  const enrolled = `where 'ffkeeper-agent enrol --out ${tlsDir}' writes it`;
  if (!options.nats) top.guess(['nats', 'servers'], 'no FindFace file names them: the local server (--nats)');
  top.guess(['nats', 'seedFile'], enrolled);
  top.guess(['tls'], `${enrolled} (--tls-dir)`);
  const raw: AgentConfigInput = {
    site,
    host,
    nats: { servers: [...(options.nats ?? [DEFAULT_NATS_URL])], seedFile: `${tlsDir}/agent.nk` },
    tls: { ca: `${tlsDir}/ca.crt`, cert: `${tlsDir}/agent.crt`, key: `${tlsDir}/agent.key` },
    ...(security ? { findfaceSecurity: security.value } : {}),
    ...(extraction ? { extractionApi: extraction.value } : {}),
    components: components.map((c) => c.value),
  };
  const notes = [...top.list, ...(security?.notes.under(['findfaceSecurity']) ?? []), ...(extraction?.notes.under(['extractionApi']) ?? []), ...components.flatMap((c, i) => c.notes.under(['components', i]))];
  const parsed = agentConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError('the discovered agent config', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  const found = DISCOVER_PARTS.filter((p) => (p === 'findface-security' ? security !== undefined : p === 'extraction-api' ? extraction !== undefined : components.some((c) => c.value.kind === p)));
  return { raw, config: parsed.data, notes, report, found };
}
