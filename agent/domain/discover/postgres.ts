/**
 * Discovery of findface-security's database and of findface-security itself: config.py gives the
 * database (`DATABASES['default']`: name, owner, the pgbouncer it connects through), EXTERNAL_ADDRESS and
 * whether a SYNC_TOKEN is set (never its value); pgbouncer.ini gives where pgbouncer listens, its admin
 * user, and where PostgreSQL itself is (the database's `[databases]` entry).
 */
import type { z } from 'zod';
import type { agentConfigSchema, postgresComponentSchema } from '../../../shared/config/agent.js';
import { readSecurityStorageSettings, readSecuritySyncSettings, type SecurityStorageSettings } from '../../../shared/findface/config-py.js';
import { parsePgbouncerIni, pgbouncerEntryFor, type PgbouncerIni } from '../../../shared/findface/pgbouncer-ini.js';
import { PGBOUNCER_INIS, SECURITY_CONFIGS } from './layout.js';
import type { HostTree } from './ports.js';
import { Notes, readFirst, type DiscoveryReport, type Found } from './report.js';

export type PostgresComponentInput = z.input<typeof postgresComponentSchema>;
export type FindfaceSecurityInput = NonNullable<z.input<typeof agentConfigSchema>['findfaceSecurity']>;

export interface SecurityConfigFound {
  file: string;
  externalAddress: string | undefined;
  syncTokenSet: boolean;
  storage: SecurityStorageSettings;
}

/** The first findface-security config.py there is (FindFace Security's path, then FindFace Multi's). */
export function readSecurityConfig(tree: HostTree, report: DiscoveryReport): SecurityConfigFound | undefined {
  const found = readFirst(tree, report, SECURITY_CONFIGS, (text) => {
    const sync = readSecuritySyncSettings(text);
    return { externalAddress: sync.externalAddress, syncTokenSet: Boolean(sync.syncToken), storage: readSecurityStorageSettings(text) };
  });
  return found ? { file: found.file, ...found.value } : undefined;
}

/** `findfaceSecurity` of the agent config: config.py, the API's URL (EXTERNAL_ADDRESS), the unit. */
export function findfaceSecurityOf(security: SecurityConfigFound): Found<FindfaceSecurityInput> {
  const notes = new Notes();
  notes.note([], `from ${security.file}: ${security.syncTokenSet ? 'SYNC_TOKEN is set (native watch-list sync configured)' : 'no SYNC_TOKEN (native watch-list sync not configured)'}`);
  const url = security.externalAddress ?? 'http://127.0.0.1';
  if (!security.externalAddress) notes.guess(['url'], 'config.py has no EXTERNAL_ADDRESS: findface-security on this host');
  notes.guess(['unit'], "FindFace's unit name (not checked)");
  return { value: { configPath: security.file, url, unit: 'findface-security' }, notes };
}

/** pgbouncer's `listen_addr` as an address to connect to (`*` and lists: loopback / the first). */
function connectAddress(listenAddr: string | undefined): string {
  const first = (listenAddr ?? '').split(',')[0]?.trim() ?? '';
  return first === '' || first === '*' || first === '0.0.0.0' || first === '::' ? '127.0.0.1' : first;
}

function databaseName(security: SecurityConfigFound | undefined, ini: PgbouncerIni | undefined, notes: Notes): string | undefined {
  const named = security?.storage.database?.name;
  if (named) return named;
  const entries = Object.keys(ini?.databases ?? {}).filter((n) => n !== '*');
  if (entries.length !== 1) return undefined;
  notes.guess(['database'], "config.py names no database: pgbouncer.ini's only [databases] entry");
  return entries[0];
}

/** The `postgres` component, or undefined when neither config.py nor pgbouncer.ini names a database. */
export function discoverDatabase(tree: HostTree, report: DiscoveryReport, security: SecurityConfigFound | undefined): Found<PostgresComponentInput> | undefined {
  const pgb = readFirst(tree, report, PGBOUNCER_INIS, parsePgbouncerIni);
  const notes = new Notes();
  const name = databaseName(security, pgb?.value, notes);
  if (name === undefined) return undefined;
  const db = security?.storage.database;
  notes.note([], `from ${[security?.file, pgb?.file].filter(Boolean).join(' and ')}`);
  const owner = db?.user ?? 'ntech';
  if (!db?.user) notes.guess(['owner'], "config.py's DATABASES has no USER: FindFace's owner");
  notes.guess(['user'], 'the agent connects as the PostgreSQL superuser (no FindFace file names it)');
  let direct = { host: '127.0.0.1', port: 5432 };
  let pgbouncer: PostgresComponentInput['pgbouncer'];
  if (pgb) {
    const e = pgbouncerEntryFor(pgb.value, name);
    if (!e) report.remark(`${pgb.file} has no [databases] entry for '${name}'`);
    direct = { host: e?.entry.host ?? direct.host, port: e?.entry.port ?? direct.port };
    if (!e?.entry.host) notes.guess(['host'], 'no host in pgbouncer.ini\'s [databases] entry: local');
    if (!e?.entry.port) notes.guess(['port'], "no port in pgbouncer.ini's [databases] entry: PostgreSQL's default");
    const adminUser = pgb.value.adminUsers[0];
    pgbouncer = { host: connectAddress(pgb.value.listenAddr), port: pgb.value.listenPort, adminUser: adminUser ?? 'postgres', database: e?.alias ?? name };
    if (!adminUser) notes.guess(['pgbouncer', 'adminUser'], 'pgbouncer.ini has no admin_users');
    if (db?.port !== undefined && db.port !== pgb.value.listenPort) {
      report.remark(`${security?.file ?? 'config.py'} connects to port ${db.port}, ${pgb.file} listens on ${pgb.value.listenPort}: if findface-security bypasses pgbouncer, PAUSE does not stop its writes`);
    }
  } else {
    pgbouncer = { host: db?.host ?? '127.0.0.1', port: db?.port ?? 6432, adminUser: 'postgres', database: name };
    notes.guess(['pgbouncer'], 'no pgbouncer.ini: where config.py connects (findface-security goes through pgbouncer), admin user postgres');
    notes.guess(['host'], 'no pgbouncer.ini: PostgreSQL on this host');
    notes.guess(['port'], "no pgbouncer.ini: PostgreSQL's default port");
  }
  notes.guess(['units'], "FindFace's unit names (not checked)");
  if (db?.passwordSet) notes.note(['owner'], 'config.py sets a PASSWORD for it (not copied)');
  return {
    value: { kind: 'postgres', name: 'ffsecurity', database: name, ...direct, user: 'postgres', owner, pgbouncer, units: { app: 'findface-security', pgbouncer: 'pgbouncer' } },
    notes,
  };
}
