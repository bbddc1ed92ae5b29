/**
 * findface-security's configuration file (`/etc/ffsecurity/config.py`), the settings FindFace's
 * master/slave sync reads: `EXTERNAL_ADDRESS`, `SYNC_TOKEN`, `SYNC_TIME = {'hour': 3, 'minute': 0}`,
 * `TIME_ZONE`, and the `INSTALLED_APPS.append('ffsecurity_sync')` plugin line. Read and edited as text:
 * a setting is replaced where it stands (a multi-line `SYNC_TIME` dict included) or appended, every
 * other line is kept as it was. Also read (never edited): where findface-security keeps its data —
 * `MEDIA_ROOT` and `DATABASES['default']` (what agent discovery needs). Pure: no file access.
 */
import { ValidationError } from '../errors.js';

export interface SyncTime {
  hour: number;
  minute: number;
}

export interface SecuritySyncSettings {
  externalAddress?: string;
  syncToken?: string;
  /** FindFace's default when unset: 03:00. */
  syncTime: SyncTime;
  timeZone?: string;
  syncPluginInstalled: boolean;
}

export const DEFAULT_SYNC_TIME: SyncTime = { hour: 3, minute: 0 };
export const SYNC_PLUGIN_LINE = "INSTALLED_APPS.append('ffsecurity_sync')";

const STRING_SETTING = (name: string): RegExp => new RegExp(`^${name}\\s*=\\s*(['"])(.*?)\\1\\s*(#.*)?$`, 'm');

function stringSetting(text: string, name: string): string | undefined {
  return STRING_SETTING(name).exec(text)?.[2];
}

/** Where `SYNC_TIME = {...}` starts and ends (the dict may span lines), or undefined. */
function syncTimeSpan(text: string): { start: number; end: number; body: string } | undefined {
  const m = /^SYNC_TIME\s*=\s*\{/m.exec(text);
  if (!m) return undefined;
  const close = text.indexOf('}', m.index + m[0].length);
  if (close < 0) throw new ValidationError('config.py: SYNC_TIME has no closing brace');
  const lineEnd = text.indexOf('\n', close);
  return { start: m.index, end: lineEnd < 0 ? text.length : lineEnd, body: text.slice(m.index + m[0].length, close) };
}

function parseSyncTime(body: string): SyncTime {
  const field = (name: string, fallback: number): number => {
    const m = new RegExp(`['"]${name}['"]\\s*:\\s*(\\d+)`).exec(body);
    return m ? Number(m[1]) : fallback;
  };
  const t = { hour: field('hour', DEFAULT_SYNC_TIME.hour), minute: field('minute', DEFAULT_SYNC_TIME.minute) };
  assertSyncTime(t);
  return t;
}

export function assertSyncTime(t: SyncTime): void {
  if (!Number.isInteger(t.hour) || t.hour < 0 || t.hour > 23 || !Number.isInteger(t.minute) || t.minute < 0 || t.minute > 59) {
    throw new ValidationError(`SYNC_TIME ${t.hour}:${t.minute} is not a time of day (hour 0-23, minute 0-59)`, { field: 'SYNC_TIME' });
  }
}

export function readSecuritySyncSettings(text: string): SecuritySyncSettings {
  const span = syncTimeSpan(text);
  return {
    externalAddress: stringSetting(text, 'EXTERNAL_ADDRESS'),
    syncToken: stringSetting(text, 'SYNC_TOKEN'),
    syncTime: span ? parseSyncTime(span.body) : DEFAULT_SYNC_TIME,
    timeZone: stringSetting(text, 'TIME_ZONE'),
    syncPluginInstalled: /^INSTALLED_APPS\.append\(\s*['"]ffsecurity_sync['"]\s*\)/m.test(text),
  };
}

export interface SecuritySyncUpdate {
  externalAddress?: string;
  syncToken?: string;
  syncTime?: SyncTime;
  installPlugin?: boolean;
}

function quoted(value: string, name: string): string {
  if (/['"\\\n\r]/.test(value)) throw new ValidationError(`${name} must not contain quotes, backslashes or line breaks`, { field: name });
  return `'${value}'`;
}

function setLine(text: string, name: string, value: string): string {
  const line = `${name} = ${quoted(value, name)}`;
  const re = STRING_SETTING(name);
  return re.test(text) ? text.replace(re, () => line) : appendLine(text, line);
}

function appendLine(text: string, line: string): string {
  return `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${line}\n`;
}

/** The text with the given settings replaced or appended; everything else unchanged. */
export function updateSecuritySyncSettings(text: string, update: SecuritySyncUpdate): string {
  let out = text;
  if (update.externalAddress !== undefined) out = setLine(out, 'EXTERNAL_ADDRESS', update.externalAddress);
  if (update.syncToken !== undefined) out = setLine(out, 'SYNC_TOKEN', update.syncToken);
  if (update.syncTime !== undefined) {
    assertSyncTime(update.syncTime);
    const block = `SYNC_TIME = {\n    'hour': ${update.syncTime.hour},  # 24 hour format\n    'minute': ${update.syncTime.minute},\n}`;
    const span = syncTimeSpan(out);
    out = span ? `${out.slice(0, span.start)}${block}${out.slice(span.end)}` : appendLine(out, block);
  }
  if (update.installPlugin && !readSecuritySyncSettings(out).syncPluginInstalled) out = appendLine(out, SYNC_PLUGIN_LINE);
  return out;
}

/** `DATABASES['default']` as config.py states it (findface-security reaches it through pgbouncer). */
export interface SecurityDatabase {
  name?: string;
  host?: string;
  port?: number;
  user?: string;
  /** Whether a PASSWORD is set; its value is never returned. */
  passwordSet: boolean;
}

export interface SecurityStorageSettings {
  /** Django's `MEDIA_ROOT`: the uploads directory (`/var/lib/findface-security/uploads`). */
  mediaRoot?: string;
  database?: SecurityDatabase;
}

/** The text between the `{` at `open` and its matching `}` (quotes and `#` comments respected), or undefined. */
function braceBody(text: string, open: number): string | undefined {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#') i = text.indexOf('\n', i) < 0 ? text.length : text.indexOf('\n', i);
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return text.slice(open + 1, i);
  }
  return undefined;
}

/** `'KEY': 'value'` or `'KEY': 5432` at the top level of a dict body. */
function dictValue(body: string, key: string): string | undefined {
  const m = new RegExp(`^\\s*['"]${key}['"]\\s*:\\s*(?:(['"])(.*?)\\1|(\\d+))`, 'm').exec(body);
  return m ? (m[2] ?? m[3]) : undefined;
}

function defaultDatabase(text: string): SecurityDatabase | undefined {
  const decl = /^DATABASES\s*=\s*\{/m.exec(text);
  const all = decl ? braceBody(text, decl.index + decl[0].length - 1) : undefined;
  const entry = all === undefined ? undefined : /['"]default['"]\s*:\s*\{/.exec(all);
  const body = entry && all !== undefined ? braceBody(all, entry.index + entry[0].length - 1) : undefined;
  if (body === undefined) return undefined;
  // Nested dicts (OPTIONS, TEST) hold no setting of ours: drop them so their keys are not mistaken.
  const flat = body.replace(/\{[^{}]*\}/g, '{}');
  const port = dictValue(flat, 'PORT');
  return {
    name: dictValue(flat, 'NAME') || undefined,
    host: dictValue(flat, 'HOST') || undefined,
    port: port && /^\d+$/.test(port) ? Number(port) : undefined,
    user: dictValue(flat, 'USER') || undefined,
    passwordSet: Boolean(dictValue(flat, 'PASSWORD')),
  };
}

/** Where findface-security keeps its data, as config.py states it (settings it lacks are undefined). */
export function readSecurityStorageSettings(text: string): SecurityStorageSettings {
  return { mediaRoot: stringSetting(text, 'MEDIA_ROOT'), database: defaultDatabase(text) };
}
