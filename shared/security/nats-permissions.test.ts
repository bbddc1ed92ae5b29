import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { natsInboxPrefix, natsPermissions, natsServerConfig } from './nats-permissions.js';

describe('NATS permissions', () => {
  it("gives an agent its own presence key, its site's sync subjects and its own inbox; never the catalog", () => {
    const p = natsPermissions({ kind: 'agent', site: 'msk-1', host: 'db' });
    expect(p.publish.allow).toContain('$KV.ffk_agents.msk-1.db');
    expect(p.publish.allow).toContain('ffk.sync.msk-1.>');
    expect(p.publish.allow.some((s) => s.includes('spb-1') || s.startsWith('$KV.ffk_catalog'))).toBe(false);
    expect(p.publish.deny).toEqual(expect.arrayContaining(['$JS.API.DIRECT.GET.KV_ffk_catalog.>', '$JS.API.STREAM.INFO.KV_ffk_jobs', '$JS.API.STREAM.MSG.GET.FFK_AUDIT']));
    // its inbox, and the slaves' requests for its site's files (answered: allowResponses)
    expect(p.subscribe.allow).toEqual([`${natsInboxPrefix({ kind: 'agent', site: 'msk-1', host: 'db' })}.>`, 'ffk.syncfiles.msk-1.*']);
    expect(p.allowResponses).toBe(true);
    // link records by key only, of the links msk-1 is part of (as master, as slave); never all of them
    expect(p.publish.allow).toEqual(expect.arrayContaining(['$JS.API.DIRECT.GET.KV_ffk_sync_links.$KV.ffk_sync_links.msk-1.>', '$JS.API.DIRECT.GET.KV_ffk_sync_links.$KV.ffk_sync_links.*.*.msk-1.>']));
    expect(p.publish.allow.filter((s) => /^\$JS\.API\.(DIRECT\.GET|CONSUMER\.CREATE)\.KV_ffk_sync_(links|status)(\.\*|\.>)?$/.test(s))).toEqual([]);
  });

  it("reads only its own site's sync stream and those of the sites the controller granted (its masters)", () => {
    const reads = (p: ReturnType<typeof natsPermissions>): string[] => p.publish.allow.filter((x) => x.startsWith('$JS.API.CONSUMER.CREATE.FFK_SYNC_')).sort();
    expect(reads(natsPermissions({ kind: 'agent', site: 'spb-1', host: 'db' }))).toEqual(['$JS.API.CONSUMER.CREATE.FFK_SYNC_spb_1', '$JS.API.CONSUMER.CREATE.FFK_SYNC_spb_1.>']);
    const granted = natsPermissions({ kind: 'agent', site: 'spb-1', host: 'db' }, { syncSources: ['msk-1', 'spb-1', 'msk-1'] });
    expect(reads(granted)).toEqual(['$JS.API.CONSUMER.CREATE.FFK_SYNC_msk_1', '$JS.API.CONSUMER.CREATE.FFK_SYNC_msk_1.>', '$JS.API.CONSUMER.CREATE.FFK_SYNC_spb_1', '$JS.API.CONSUMER.CREATE.FFK_SYNC_spb_1.>']);
    // Reading a master's stream is not publishing into it.
    expect(granted.publish.allow).not.toContain('ffk.sync.msk-1.>');
    // No stream is readable by wildcard any more.
    expect(granted.publish.allow.filter((x) => x.startsWith('$JS.API.CONSUMER.CREATE.*'))).toEqual([]);
  });

  it('denies an operator everything (an empty allow list would mean no restriction to nats-server)', () => {
    expect(natsPermissions({ kind: 'operator', name: 'alice' })).toEqual({ publish: { allow: [], deny: ['>'] }, subscribe: { allow: [], deny: ['>'] } });
    expect(natsPermissions({ kind: 'controller', id: 'c1' })).toEqual({ publish: { allow: ['>'] }, subscribe: { allow: ['>'] } });
  });

  it('writes a configuration nats-server 2.9 accepts', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-natsperm-'));
    try {
      const text = natsServerConfig({
        listen: '127.0.0.1:14222',
        monitor: '127.0.0.1:18222',
        storeDir: dir,
        users: [
          { identity: { kind: 'controller', id: 'c1' }, publicKey: nkeys.createUser().getPublicKey() },
          { identity: { kind: 'agent', site: 'msk-1', host: 'db' }, publicKey: nkeys.createUser().getPublicKey() },
          { identity: { kind: 'operator', name: 'alice' }, publicKey: nkeys.createUser().getPublicKey() },
        ],
      });
      const file = path.join(dir, 'nats.conf');
      writeFileSync(file, text);
      expect(text).toContain('subscribe: { deny: [">"] }');
      execFileSync('nats-server', ['-c', file, '-t'], { stdio: 'pipe' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writes a cluster node's configuration (named, routes authenticated with the secret) that nats-server 2.9 accepts", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-natsperm-'));
    try {
      const text = natsServerConfig({
        listen: '127.0.0.1:14222',
        storeDir: dir,
        users: [{ identity: { kind: 'controller', id: 'c1' }, publicKey: nkeys.createUser().getPublicKey() }],
        cluster: { serverName: 'n1', name: 'ffkeeper', listen: '127.0.0.1:16222', routes: ['10.0.0.2:6222', '10.0.0.3:6222'], secret: 'a/b+c' },
      });
      const file = path.join(dir, 'nats.conf');
      writeFileSync(file, text);
      expect(text).toContain('server_name: "n1"');
      expect(text).toContain('authorization: { user: "ffk-route", password: "a/b+c" }');
      expect(text).toContain('routes: ["nats-route://ffk-route:a%2Fb%2Bc@10.0.0.2:6222", "nats-route://ffk-route:a%2Fb%2Bc@10.0.0.3:6222"]');
      execFileSync('nats-server', ['-c', file, '-t'], { stdio: 'pipe' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
