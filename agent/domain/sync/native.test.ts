import { describe, expect, it } from 'vitest';
import { IllegalStateError, NotFoundError, ValidationError } from '../../../shared/errors.js';
import { readSecuritySyncSettings, SYNC_PLUGIN_LINE } from '../../../shared/findface/config-py.js';
import { silentLogger } from '../../../shared/logger.js';
import type { NativeReplica } from '../../../shared/sync/native.js';
import { nativeSync, type SecurityConfigFile, type SecuritySyncApi, type UnitRestarter } from './native.js';

const CONFIG_PATH = '/etc/ffsecurity/config.py';
const UNIT = 'findface-security';
const MASTER_URL = 'http://10.1.0.5';
const TOKEN = 'existing-token-0123456789';

/** config.py as FindFace ships it (no SYNC_TOKEN, no SYNC_TIME, no plugin); `extra` lines go before the plugins comment. */
const config = (...extra: string[]): string =>
  ['import os', '', 'DEBUG = False', "TIME_ZONE = 'Europe/Moscow'", ...extra, '', '# integration plugins', ''].join('\n');

/** In-memory findface-security on one host: its config.py, its unit and its sync API; `events` in call order. */
function host(text: string) {
  const events: string[] = [];
  const replicas: NativeReplica[] = [{ id: 7, remoteList: 1, remoteUrl: MASTER_URL, slaveList: 2 }];
  const file: SecurityConfigFile & { text: string; writes: string[] } = {
    path: CONFIG_PATH,
    text,
    writes: [],
    read() {
      return Promise.resolve(this.text);
    },
    write(next) {
      events.push('write');
      this.writes.push(next);
      this.text = next;
      return Promise.resolve();
    },
  };
  const restarter: UnitRestarter & { failWith?: Error } = {
    restart(unit) {
      events.push(`restart ${unit}`);
      return this.failWith ? Promise.reject(this.failWith) : Promise.resolve();
    },
  };
  const api: SecuritySyncApi & { notReady?: Error } = {
    url: 'http://127.0.0.1:8002',
    replicas(token) {
      events.push(`replicas ${token}`);
      return Promise.resolve(replicas);
    },
    create(token, link) {
      const { remoteList, remoteUrl, slaveList } = link;
      events.push(`create ${token} ${JSON.stringify({ remoteList, remoteUrl, slaveList })}`);
      return Promise.resolve({ id: 8, remoteList, remoteUrl, slaveList });
    },
    remove(token, slaveList) {
      events.push(`remove ${token} ${slaveList}`);
      return Promise.resolve(slaveList === 2);
    },
    waitReady(token, timeoutMs) {
      events.push(`waitReady ${token} ${timeoutMs}`);
      return this.notReady ? Promise.reject(this.notReady) : Promise.resolve();
    },
  };
  const deps = { config: file, api, services: restarter, unit: UNIT, logger: silentLogger() };
  return { deps, file, restarter, api, events, replicas };
}

const caught = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);

describe('nativeSync: settings', () => {
  it('reports the settings of config.py without the token', async () => {
    const h = host(config(`EXTERNAL_ADDRESS = '${MASTER_URL}'`, `SYNC_TOKEN = '${TOKEN}'`, SYNC_PLUGIN_LINE));
    const r = await nativeSync(h.deps, { op: 'settings' });
    expect(r).toEqual({
      settings: { configPath: CONFIG_PATH, externalAddress: MASTER_URL, tokenSet: true, syncTime: { hour: 3, minute: 0 }, timeZone: 'Europe/Moscow', pluginInstalled: true },
    });
    expect(JSON.stringify(r)).not.toContain(TOKEN);
    expect(h.events).toEqual([]);
  });

  it('leaves out what config.py does not set', async () => {
    const r = await nativeSync(host('DEBUG = False\n').deps, { op: 'settings' });
    expect(r.settings).toEqual({ configPath: CONFIG_PATH, tokenSet: false, syncTime: { hour: 3, minute: 0 }, pluginInstalled: false });
  });
});

describe('nativeSync: master', () => {
  it('refuses a config without EXTERNAL_ADDRESS, naming the file, writing and restarting nothing', async () => {
    const h = host(config());
    const err = await caught(nativeSync(h.deps, { op: 'master', syncTime: { hour: 2, minute: 0 } }));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toBe(`${CONFIG_PATH} has no EXTERNAL_ADDRESS: a sync master needs it (its slaves pull from that URL)`);
    expect((err as ValidationError).field).toBe('EXTERNAL_ADDRESS');
    expect(h.file.writes).toEqual([]);
    expect(h.events).toEqual([]);
  });

  it('generates a token when there is none, writes SYNC_TIME and the plugin, restarts once and waits for the API', async () => {
    const h = host(config(`EXTERNAL_ADDRESS = '${MASTER_URL}'`));
    const r = await nativeSync(h.deps, { op: 'master', syncTime: { hour: 23, minute: 15 } });
    expect(r.token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(r.changed).toBe(true);
    expect(readSecuritySyncSettings(h.file.text)).toEqual({
      externalAddress: MASTER_URL, syncToken: r.token, syncTime: { hour: 23, minute: 15 }, timeZone: 'Europe/Moscow', syncPluginInstalled: true,
    });
    expect(h.events).toEqual(['write', `restart ${UNIT}`, `waitReady ${r.token} 120000`]);
    expect(r.settings).toEqual({ configPath: CONFIG_PATH, externalAddress: MASTER_URL, tokenSet: true, syncTime: { hour: 23, minute: 15 }, timeZone: 'Europe/Moscow', pluginInstalled: true });
  });

  it('generates a different token for each master', async () => {
    const tokens = await Promise.all([1, 2, 3].map(async () => (await nativeSync(host(config(`EXTERNAL_ADDRESS = '${MASTER_URL}'`)).deps, { op: 'master', syncTime: { hour: 3, minute: 0 } })).token));
    expect(new Set(tokens).size).toBe(3);
  });

  it('keeps an existing token', async () => {
    const h = host(config(`EXTERNAL_ADDRESS = '${MASTER_URL}'`, `SYNC_TOKEN = '${TOKEN}'`));
    const r = await nativeSync(h.deps, { op: 'master', syncTime: { hour: 3, minute: 0 } });
    expect(r.token).toBe(TOKEN);
    expect(readSecuritySyncSettings(h.file.text).syncToken).toBe(TOKEN);
    expect(h.file.text).toContain(`SYNC_TOKEN = '${TOKEN}'\n`);
    expect(r.changed).toBe(true); // SYNC_TIME and the plugin were added
  });

  it('generates a token when SYNC_TOKEN is empty', async () => {
    const h = host(config(`EXTERNAL_ADDRESS = '${MASTER_URL}'`, "SYNC_TOKEN = ''"));
    const r = await nativeSync(h.deps, { op: 'master', syncTime: { hour: 3, minute: 0 } });
    expect(r.token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(readSecuritySyncSettings(h.file.text).syncToken).toBe(r.token);
  });

  it('changes nothing the second time: no write, no restart, changed=false, same token', async () => {
    const h = host(config(`EXTERNAL_ADDRESS = '${MASTER_URL}'`));
    const first = await nativeSync(h.deps, { op: 'master', syncTime: { hour: 1, minute: 30 } });
    const text = h.file.text;
    h.events.length = 0;
    const second = await nativeSync(h.deps, { op: 'master', syncTime: { hour: 1, minute: 30 } });
    expect(second).toEqual({ ...first, changed: false });
    expect(h.file.text).toBe(text);
    expect(h.file.writes).toHaveLength(1);
    expect(h.events).toEqual([]);
  });

  it('waits for the API as long as it is told', async () => {
    const h = host(config(`EXTERNAL_ADDRESS = '${MASTER_URL}'`, `SYNC_TOKEN = '${TOKEN}'`));
    await nativeSync({ ...h.deps, readyTimeoutMs: 5000 }, { op: 'master', syncTime: { hour: 3, minute: 0 } });
    expect(h.events).toEqual(['write', `restart ${UNIT}`, `waitReady ${TOKEN} 5000`]);
  });
});

describe('nativeSync: slave', () => {
  it("writes the master's token, SYNC_TIME and EXTERNAL_ADDRESS and the plugin, then restarts once", async () => {
    const h = host(config("EXTERNAL_ADDRESS = 'http://10.2.0.7'"));
    const r = await nativeSync(h.deps, { op: 'slave', token: TOKEN, syncTime: { hour: 0, minute: 5 }, externalAddress: MASTER_URL });
    expect(r).toEqual({
      changed: true,
      settings: { configPath: CONFIG_PATH, externalAddress: MASTER_URL, tokenSet: true, syncTime: { hour: 0, minute: 5 }, timeZone: 'Europe/Moscow', pluginInstalled: true },
    });
    expect(readSecuritySyncSettings(h.file.text)).toMatchObject({ externalAddress: MASTER_URL, syncToken: TOKEN, syncTime: { hour: 0, minute: 5 }, syncPluginInstalled: true });
    expect(h.events).toEqual(['write', `restart ${UNIT}`, `waitReady ${TOKEN} 120000`]);
    expect(JSON.stringify(r)).not.toContain(TOKEN);

    h.events.length = 0;
    const again = await nativeSync(h.deps, { op: 'slave', token: TOKEN, syncTime: { hour: 0, minute: 5 }, externalAddress: MASTER_URL });
    expect(again.changed).toBe(false);
    expect(h.events).toEqual([]);
  });

  it.each([
    ['the restart fails', (h: ReturnType<typeof host>) => { h.restarter.failWith = new Error('Job for findface-security.service failed'); }, 'Job for findface-security.service failed', [`restart ${UNIT}`]],
    ['the API does not answer', (h: ReturnType<typeof host>) => { h.api.notReady = new Error('no answer within 120000 ms'); }, 'no answer within 120000 ms', [`restart ${UNIT}`, `waitReady ${TOKEN} 120000`]],
  ])('%s → IllegalStateError saying the config was changed and the unit did not come back', async (_name, breakIt, reason, after) => {
    const h = host(config());
    breakIt(h);
    const err = await caught(nativeSync(h.deps, { op: 'slave', token: TOKEN, syncTime: { hour: 3, minute: 0 }, externalAddress: MASTER_URL }));
    expect(err).toBeInstanceOf(IllegalStateError);
    expect((err as Error).message).toBe(`${CONFIG_PATH} was changed but ${UNIT} did not come back: ${reason}`);
    expect((err as Error).cause).toBeInstanceOf(Error);
    expect(h.events).toEqual(['write', ...after]);
    expect(readSecuritySyncSettings(h.file.text).syncToken).toBe(TOKEN);
  });
});

describe('nativeSync: link, unlink, replicas', () => {
  const requests = [
    { op: 'link', remoteList: 1, remoteUrl: MASTER_URL, slaveList: 2 },
    { op: 'unlink', slaveList: 2 },
    { op: 'replicas' },
  ] as const;

  it.each(requests)('$op without SYNC_TOKEN → NotFoundError naming the file, the API not called', async (req) => {
    const h = host(config(`EXTERNAL_ADDRESS = '${MASTER_URL}'`));
    const err = await caught(nativeSync(h.deps, req));
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toBe(`${CONFIG_PATH} has no SYNC_TOKEN: this site takes part in no native sync link`);
    expect(h.events).toEqual([]);
  });

  it('link POSTs the replica with the token', async () => {
    const h = host(config(`SYNC_TOKEN = '${TOKEN}'`));
    const r = await nativeSync(h.deps, { op: 'link', remoteList: 1, remoteUrl: MASTER_URL, slaveList: 2 });
    expect(r).toEqual({ replica: { id: 8, remoteList: 1, remoteUrl: MASTER_URL, slaveList: 2 } });
    expect(h.events).toEqual([`create ${TOKEN} ${JSON.stringify({ remoteList: 1, remoteUrl: MASTER_URL, slaveList: 2 })}`]);
  });

  it.each([
    [2, true],
    [9, false],
  ])('unlink of list %i DELETEs it with the token → removed %s', async (slaveList, removed) => {
    const h = host(config(`SYNC_TOKEN = '${TOKEN}'`));
    expect(await nativeSync(h.deps, { op: 'unlink', slaveList })).toEqual({ removed });
    expect(h.events).toEqual([`remove ${TOKEN} ${slaveList}`]);
  });

  it('replicas lists them with the token', async () => {
    const h = host(config(`SYNC_TOKEN = '${TOKEN}'`));
    expect(await nativeSync(h.deps, { op: 'replicas' })).toEqual({ replicas: h.replicas });
    expect(h.events).toEqual([`replicas ${TOKEN}`]);
  });
});
