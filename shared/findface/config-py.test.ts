import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { DEFAULT_SYNC_TIME, readSecuritySyncSettings, SYNC_PLUGIN_LINE, updateSecuritySyncSettings, type SecuritySyncUpdate } from './config-py.js';

/** A FindFace config.py as an operator may have left it: comments, both quote styles, a multi-line SYNC_TIME in the middle. */
const CONFIG = [
  '# -*- coding: utf-8 -*-',
  '# FindFace Security settings (read once when findface-security starts)',
  'import os',
  '',
  'DEBUG = False',
  "ALLOWED_HOSTS = ['*']",
  "SECRET_KEY = 'c8b533847bbf7142102de1349d0d0a2a'",
  '',
  '# where video managers and sync slaves reach this instance',
  "EXTERNAL_ADDRESS = 'http://10.1.0.5'",
  "TIME_ZONE = 'Europe/Moscow'",
  '',
  '# dossier list sync',
  "SYNC_TOKEN = 'old-token-0123456789'",
  'SYNC_TIME = {',
  "    'hour': 4,  # 24 hour format",
  "    'minute': 30,",
  '}',
  '',
  'DATABASES = {',
  "    'default': {",
  "        'ENGINE': 'django.db.backends.postgresql',",
  "        'NAME': 'ffsecurity',",
  '    }',
  '}',
  '',
  'FFSECURITY = {',
  "    'VIDEO_DETECTOR_TOKEN': '8977e1b4aa1f4d9b',",
  "    'EVENTS_MAX_AGE': 30,",
  '}',
  '',
  '# integration plugins',
  "# INSTALLED_APPS.append('ffsecurity_sync')",
  '',
].join('\n');

/** The config as FindFace ships it: no SYNC_TOKEN, no SYNC_TIME, no plugin line. */
const SHIPPED = [
  'import os',
  '',
  "EXTERNAL_ADDRESS = 'http://10.2.0.7'",
  "TIME_ZONE = 'UTC'",
  '',
  'FFSECURITY = {',
  "    'EVENTS_MAX_AGE': 30,",
  '}',
  '',
].join('\n');

const SYNC_TIME_BLOCK = (hour: number, minute: number): string[] => ['SYNC_TIME = {', `    'hour': ${hour},  # 24 hour format`, `    'minute': ${minute},`, '}'];

describe('readSecuritySyncSettings', () => {
  it('reads the sync settings of a realistic config.py', () => {
    expect(readSecuritySyncSettings(CONFIG)).toEqual({
      externalAddress: 'http://10.1.0.5',
      syncToken: 'old-token-0123456789',
      syncTime: { hour: 4, minute: 30 },
      timeZone: 'Europe/Moscow',
      syncPluginInstalled: false,
    });
  });

  it('leaves unset what the config does not set, with SYNC_TIME at its 03:00 default', () => {
    const s = readSecuritySyncSettings('import os\nDEBUG = False\n');
    expect(s).toEqual({ externalAddress: undefined, syncToken: undefined, syncTime: { hour: 3, minute: 0 }, timeZone: undefined, syncPluginInstalled: false });
    expect(DEFAULT_SYNC_TIME).toEqual({ hour: 3, minute: 0 });
  });

  it.each([
    ['single quotes', "EXTERNAL_ADDRESS = 'http://a.example'", 'http://a.example'],
    ['double quotes', 'EXTERNAL_ADDRESS = "http://a.example"', 'http://a.example'],
    ['no spaces', "EXTERNAL_ADDRESS='http://a.example'", 'http://a.example'],
    ['trailing comment', "EXTERNAL_ADDRESS = 'http://a.example'  # no trailing slash", 'http://a.example'],
    ['double quotes and comment', 'EXTERNAL_ADDRESS = "http://a.example"# the URL slaves pull from', 'http://a.example'],
    ['the other quote inside', 'EXTERNAL_ADDRESS = "http://a.example/it\'s"', "http://a.example/it's"],
    ['empty', "EXTERNAL_ADDRESS = ''", ''],
    ['commented out', "# EXTERNAL_ADDRESS = 'http://a.example'", undefined],
    ['indented (inside a block)', "    EXTERNAL_ADDRESS = 'http://a.example'", undefined],
    ['another setting with that prefix', "EXTERNAL_ADDRESS_OLD = 'http://a.example'", undefined],
  ])('EXTERNAL_ADDRESS: %s', (_name, line, expected) => {
    expect(readSecuritySyncSettings(`import os\n${line}\nDEBUG = False\n`).externalAddress).toBe(expected);
  });

  it.each([
    ['SYNC_TOKEN', "SYNC_TOKEN = 'Zm9vYmFy-_0123456789'", 'syncToken', 'Zm9vYmFy-_0123456789'],
    ['SYNC_TOKEN', 'SYNC_TOKEN = "Zm9vYmFy"  # shared by master and slaves', 'syncToken', 'Zm9vYmFy'],
    ['TIME_ZONE', "TIME_ZONE = 'Asia/Yekaterinburg'  # Django's", 'timeZone', 'Asia/Yekaterinburg'],
    ['TIME_ZONE', 'TIME_ZONE = "UTC"', 'timeZone', 'UTC'],
  ] as const)('%s from %s', (_name, line, key, expected) => {
    expect(readSecuritySyncSettings(`${line}\n`)[key]).toBe(expected);
  });

  it.each([
    ['single line', "SYNC_TIME = {'hour': 1, 'minute': 15}", { hour: 1, minute: 15 }],
    ['single line, double quotes, comment', 'SYNC_TIME = {"hour": 22, "minute": 5}  # local time', { hour: 22, minute: 5 }],
    ['multi-line with comments', SYNC_TIME_BLOCK(0, 59).join('\n'), { hour: 0, minute: 59 }],
    ['minute only (hour defaults)', "SYNC_TIME = {'minute': 45}", { hour: 3, minute: 45 }],
    ['hour only (minute defaults)', "SYNC_TIME = {\n    'hour': 23,\n}", { hour: 23, minute: 0 }],
    ['commented out', "# SYNC_TIME = {'hour': 1, 'minute': 15}", { hour: 3, minute: 0 }],
  ])('SYNC_TIME: %s', (_name, text, expected) => {
    expect(readSecuritySyncSettings(`import os\n${text}\nDEBUG = False\n`).syncTime).toEqual(expected);
  });

  it.each([
    ['hour 24', "SYNC_TIME = {'hour': 24, 'minute': 0}", 'SYNC_TIME 24:0 is not a time of day (hour 0-23, minute 0-59)'],
    ['minute 60', "SYNC_TIME = {\n    'hour': 3,\n    'minute': 60,\n}", 'SYNC_TIME 3:60 is not a time of day (hour 0-23, minute 0-59)'],
    ['no closing brace', "SYNC_TIME = {\n    'hour': 3,\n", 'config.py: SYNC_TIME has no closing brace'],
  ])('invalid SYNC_TIME (%s) → ValidationError', (_name, text, message) => {
    const err = (() => {
      try {
        return readSecuritySyncSettings(`import os\n${text}\n`);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe(message);
  });

  it.each([
    [SYNC_PLUGIN_LINE, true],
    ['INSTALLED_APPS.append("ffsecurity_sync")', true],
    ["INSTALLED_APPS.append( 'ffsecurity_sync' )  # native sync", true],
    ["# INSTALLED_APPS.append('ffsecurity_sync')", false],
    ["INSTALLED_APPS.append('ffsecurity_other')", false],
    ["INSTALLED_APPS.append('ffsecurity_sync_extra')", false],
  ])('plugin line %s → installed %s', (line, installed) => {
    expect(readSecuritySyncSettings(`import os\n\n# integration plugins\n${line}\n`).syncPluginInstalled).toBe(installed);
  });
});

describe('updateSecuritySyncSettings', () => {
  const lines = CONFIG.split('\n');
  const at = (prefix: string): number => lines.findIndex((l) => l.startsWith(prefix));

  it('replaces the settings where they stand, keeping every other line byte-identical', () => {
    const out = updateSecuritySyncSettings(CONFIG, {
      externalAddress: 'https://msk.example:8443',
      syncToken: 'new-token-abcdefghijklmnop',
      syncTime: { hour: 23, minute: 5 },
      installPlugin: true,
    });
    const syncTimeStart = at('SYNC_TIME');
    const expected = [
      ...lines.slice(0, at('EXTERNAL_ADDRESS')),
      "EXTERNAL_ADDRESS = 'https://msk.example:8443'",
      ...lines.slice(at('EXTERNAL_ADDRESS') + 1, at('SYNC_TOKEN')),
      "SYNC_TOKEN = 'new-token-abcdefghijklmnop'",
      ...SYNC_TIME_BLOCK(23, 5),
      ...lines.slice(syncTimeStart + 4), // after the old 4-line dict, through the trailing ''
    ];
    // appended at the end, after the final newline
    expect(out).toBe(`${expected.join('\n')}${SYNC_PLUGIN_LINE}\n`);
    expect(readSecuritySyncSettings(out)).toEqual({
      externalAddress: 'https://msk.example:8443',
      syncToken: 'new-token-abcdefghijklmnop',
      syncTime: { hour: 23, minute: 5 },
      timeZone: 'Europe/Moscow',
      syncPluginInstalled: true,
    });
  });

  it('replaces a single-line SYNC_TIME and a double-quoted, commented setting on their own lines only', () => {
    const text = 'A = 1\nSYNC_TOKEN = "x-12345678"  # secret\nSYNC_TIME = {\'hour\': 1, \'minute\': 0}  # nightly\nB = 2\n';
    const out = updateSecuritySyncSettings(text, { syncToken: 'y-12345678', syncTime: { hour: 2, minute: 30 } });
    expect(out).toBe(['A = 1', "SYNC_TOKEN = 'y-12345678'", ...SYNC_TIME_BLOCK(2, 30), 'B = 2', ''].join('\n'));
  });

  it('appends what is absent, in a fixed order, after the last line', () => {
    const out = updateSecuritySyncSettings(SHIPPED, { syncToken: 'tok-0123456789abcdefghij', syncTime: { hour: 3, minute: 0 }, installPlugin: true });
    expect(out).toBe([SHIPPED.slice(0, -1), "SYNC_TOKEN = 'tok-0123456789abcdefghij'", ...SYNC_TIME_BLOCK(3, 0), SYNC_PLUGIN_LINE, ''].join('\n'));
  });

  it.each([
    ['ends with a newline', 'DEBUG = False\n', "DEBUG = False\nSYNC_TOKEN = 'tok-12345678'\n"],
    ['ends without a newline', 'DEBUG = False', "DEBUG = False\nSYNC_TOKEN = 'tok-12345678'\n"],
    ['is empty', '', "SYNC_TOKEN = 'tok-12345678'\n"],
  ])('appends to a file that %s', (_name, text, expected) => {
    expect(updateSecuritySyncSettings(text, { syncToken: 'tok-12345678' })).toBe(expected);
  });

  it.each<[string, string, SecuritySyncUpdate]>([
    ['a realistic config', CONFIG, { externalAddress: 'https://msk.example:8443', syncToken: 'tok-0123456789abcdefghij', syncTime: { hour: 0, minute: 0 }, installPlugin: true }],
    ['the shipped config', SHIPPED, { syncToken: 'tok-0123456789abcdefghij', syncTime: { hour: 3, minute: 0 }, installPlugin: true }],
    ['an empty file', '', { externalAddress: 'http://x.example', syncTime: { hour: 12, minute: 1 }, installPlugin: true }],
  ])('is idempotent on %s', (_name, text, update) => {
    const once = updateSecuritySyncSettings(text, update);
    expect(once).not.toBe(text);
    expect(updateSecuritySyncSettings(once, update)).toBe(once);
  });

  it('returns the identical text for an update equal to what it holds', () => {
    const text = updateSecuritySyncSettings(CONFIG, { syncTime: { hour: 4, minute: 30 }, installPlugin: true });
    const current = readSecuritySyncSettings(text);
    const same = { externalAddress: current.externalAddress, syncToken: current.syncToken, syncTime: current.syncTime, installPlugin: true };
    expect(updateSecuritySyncSettings(text, same)).toBe(text);
    expect(updateSecuritySyncSettings(text, {})).toBe(text);
  });

  it('appends the plugin line once, and not when it is already there', () => {
    const once = updateSecuritySyncSettings(CONFIG, { installPlugin: true });
    expect(once).toBe(`${CONFIG}${SYNC_PLUGIN_LINE}\n`);
    expect(updateSecuritySyncSettings(once, { installPlugin: true })).toBe(once);
    const present = 'import os\nINSTALLED_APPS.append("ffsecurity_sync")\nDEBUG = False\n';
    expect(updateSecuritySyncSettings(present, { installPlugin: true })).toBe(present);
    expect(updateSecuritySyncSettings(CONFIG, { installPlugin: false })).toBe(CONFIG);
  });

  it.each([
    ['EXTERNAL_ADDRESS', { externalAddress: "http://x.example/'; import os" }],
    ['EXTERNAL_ADDRESS', { externalAddress: 'http://x.example"' }],
    ['SYNC_TOKEN', { syncToken: 'abc\ndef' }],
    ['SYNC_TOKEN', { syncToken: 'abc\rdef' }],
    ['SYNC_TOKEN', { syncToken: 'abc\\' }],
  ] as const)('refuses a %s with quotes, backslashes or line breaks', (field, update) => {
    const err = (() => {
      try {
        return updateSecuritySyncSettings(CONFIG, update);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toBe(`${field} must not contain quotes, backslashes or line breaks`);
    expect((err as ValidationError).field).toBe(field);
  });

  it('refuses an invalid SYNC_TIME before changing anything', () => {
    expect(() => updateSecuritySyncSettings(CONFIG, { syncTime: { hour: 24, minute: 0 } })).toThrow(
      new ValidationError('SYNC_TIME 24:0 is not a time of day (hour 0-23, minute 0-59)', { field: 'SYNC_TIME' }),
    );
    expect(() => updateSecuritySyncSettings(CONFIG, { syncTime: { hour: 1.5, minute: 0 } })).toThrow(ValidationError);
  });

  it.each([
    ['$&', 'tok$&en'],
    ['$`', 'tok$`en'],
    ['$$', 'pa$$word'],
    ['$1', 'tok$1en'],
  ])('writes a value containing %s as it is (no replacement patterns)', (_name, token) => {
    const out = updateSecuritySyncSettings(CONFIG, { syncToken: token });
    expect(readSecuritySyncSettings(out).syncToken).toBe(token);
    expect(out).toBe(CONFIG.replace("SYNC_TOKEN = 'old-token-0123456789'", () => `SYNC_TOKEN = '${token}'`));
  });
});
