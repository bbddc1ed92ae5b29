/**
 * The pieces of the demo's `--netns` (deploy/demo/netns.ts), each on a real network namespace:
 * - the loopback relay: a client in a namespace dials 127.0.0.1:P there and talks to a server on the
 *   root namespace's 127.0.0.1:P (through a unix socket); with no server behind it, the client's
 *   connection is closed rather than left hanging;
 * - the shims' first line: with the site's namespace named in FFK_DEVSITE_NETNS, a script run inside a
 *   namespace re-runs itself in the site's; without it, it stays;
 * - tagged hosts (the demo's lifetime): not removed when another run creates hosts, and `removeHosts(tag)`
 *   leaves no namespace, veth or bridge behind.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, readlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NETNS_ESCAPE } from '../../deploy/dev-site/shims.js';
import { DEVSITE_NETNS_ENV } from '../../deploy/dev-site/state.js';
import { startRelay } from '../../deploy/netns/relay.js';
import { createHosts, linkNames, netnsNames, removeHosts, type NetnsHosts } from '../harness/netns.js';
import { REPO_ROOT, tempDir } from '../harness/processes.js';

const RELAY = path.join(REPO_ROOT, 'dist/deploy/netns/relay-main.js');

/**
 * Runs `node -e script` inside `netns`; returns stdout (rejects with stderr on failure). Asynchronous: the
 * servers it talks to run in this process.
 */
function nodeIn(netns: string, script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`node in ${netns} failed: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

describe('the demo --netns pieces on real namespaces', () => {
  const tmp = tempDir('ffk-netns-relay-');
  let hosts: NetnsHosts<'agent'>;
  let echo: net.Server;
  let echoPort = 0;
  let unusedPort = 0;

  beforeAll(async () => {
    hosts = createHosts(['agent'] as const);
    echo = net.createServer((c) => c.on('data', (d: Buffer) => c.write(`echo:${d.toString()}`)));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as net.AddressInfo).port;
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    unusedPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
  });

  afterAll(async () => {
    hosts?.cleanup();
    await new Promise<void>((r) => (echo ? echo.close(() => r()) : r()));
  });

  it('a client in a namespace reaches a server on the root namespace loopback at the same port', async () => {
    const dir = path.join(tmp.dir, 'relay');
    const outside = await startRelay('outside', dir, [echoPort, unusedPort]);
    const inside = spawnSync('sh', ['-c', `ip netns exec ${hosts.netnsOf('agent')} ${process.execPath} ${RELAY} inside --dir ${dir} --ports ${echoPort},${unusedPort} > ${dir}/inside.log 2>&1 & echo $!`], { encoding: 'utf8' });
    const pid = Number(inside.stdout.trim());
    try {
      const dial = async (port: number): Promise<string> =>
        (
          await 
        nodeIn(
          hosts.netnsOf('agent'),
          `const net=require('net');let tries=0;const go=()=>{const c=net.connect(${port},'127.0.0.1');let out='';` +
            `c.on('connect',()=>c.write('hello'));c.on('data',d=>{out+=d;c.end()});` +
            `c.on('error',e=>{if(e.code==='ECONNREFUSED'&&++tries<100)return setTimeout(go,50);console.log('error:'+e.code)});c.on('close',()=>{if(out)console.log(out)});};go();` +
            `setTimeout(()=>{console.log('closed-without-answer');process.exit(0)},5000).unref();`,
          )
        ).trim();
      expect(await dial(echoPort)).toBe('echo:hello');
      // Nothing listens behind this port: the relay closes the client's connection.
      const lonely = await dial(unusedPort);
      console.log(`dialled 127.0.0.1:${echoPort} in ${hosts.netnsOf('agent')}: answered by the root namespace's server; 127.0.0.1:${unusedPort} (no server): ${lonely || 'closed'}`);
      expect(lonely).not.toContain('echo:');
    } finally {
      process.kill(pid, 'SIGTERM');
      await outside.close();
    }
  });

  it("the shims' first line re-runs a script in the site's namespace when FFK_DEVSITE_NETNS names it", () => {
    const script = path.join(tmp.dir, 'whereami.sh');
    writeFileSync(script, ['#!/bin/sh', NETNS_ESCAPE, 'readlink /proc/self/ns/net', ''].join('\n'));
    chmodSync(script, 0o755);
    const root = readlinkSync('/proc/self/ns/net');
    const run = (env: Record<string, string>): string => {
      const r = spawnSync('ip', ['netns', 'exec', hosts.netnsOf('agent'), 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), script], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
      return r.stdout.trim();
    };
    const stays = run({});
    const escapes = run({ [DEVSITE_NETNS_ENV]: `/proc/${process.pid}/ns/net` });
    console.log(`root namespace ${root}; the script without ${DEVSITE_NETNS_ENV}: ${stays}; with it: ${escapes}`);
    expect(stays).not.toBe(root);
    expect(escapes).toBe(root);
  });

  it('tagged hosts outlive other runs and removeHosts(tag) removes every namespace, veth and bridge', () => {
    const tagged = createHosts(['a', 'b'] as const, { tag: 'ffktst' });
    try {
      expect(() => createHosts(['c'] as const, { tag: 'ffktst' })).toThrow("hosts tagged 'ffktst' exist already");
      const other = createHosts(['x'] as const); // removes the tests' own leftovers, never tagged hosts
      other.cleanup();
      expect(netnsNames()).toEqual(expect.arrayContaining(['ffktst-a', 'ffktst-b']));
    } finally {
      const removed = removeHosts('ffktst');
      console.log(`removeHosts('ffktst') removed: ${removed.join(', ')}`);
      expect(removed).toEqual(expect.arrayContaining(['ffktst-a', 'ffktst-b', 'ffktstb', 'ffktstv0', 'ffktstv1']));
    }
    expect(netnsNames().filter((n) => n.startsWith('ffktst'))).toEqual([]);
    expect(linkNames().filter((n) => n.startsWith('ffktst'))).toEqual([]);
    void tagged;
  });
});
