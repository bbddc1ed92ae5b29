/**
 * A real nats-server with JetStream on a free port and its own temp store, for one test file, secured as
 * a fleet's is: it is registered with the run's test CA (test/harness/pki.ts), so its configuration holds
 * every nkey that CA issued, with each one's permissions, and is reloaded whenever the CA issues or
 * revokes one. `stop()` kills it and removes the directory; `kill()`/`restart()` allow fault injection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NatsConfig } from '../../shared/config/common.js';
import { freePort, waitForPort } from '../../shared/net.js';
import { natsSeedOf, registerNatsServer, setNatsServerPid, unregisterNatsServer } from '../../shared/security/nats-users.js';
import type { TlsFiles } from '../../shared/security/tls-files.js';
import { agentTls, ensureTestPki } from './pki.js';

export interface TestNats {
  url: string;
  port: number;
  /** The configuration file the server runs. */
  configFile: string;
  /** `nats` config of a process whose TLS files are `tls` (its seed is issued beside them). */
  client(tls: TlsFiles): NatsConfig;
  /** A new certificate and NATS seed of agent `site/host`: its config's `tls` and `nats`. */
  agent(site: string, host: string): Promise<{ tls: TlsFiles; nats: NatsConfig }>;
  /** `nats` config of the test CA's controller (`controller-1`): every subject allowed. */
  controller(): NatsConfig;
  /** Stops the server (SIGKILL) but keeps its store, so `restart()` brings the same state back. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startNats(): Promise<TestNats> {
  const caDir = await ensureTestPki();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-nats-'));
  const [port, monitor] = [await freePort(), await freePort()];
  const name = `test-${process.pid}-${port}`;
  const configFile = path.join(dir, 'nats-server.conf');
  await registerNatsServer(caDir, { name, configFile, listen: `127.0.0.1:${port}`, monitor: `127.0.0.1:${monitor}`, storeDir: path.join(dir, 'js') });
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    child = spawn('nats-server', ['-c', configFile], { stdio: 'ignore' });
    await setNatsServerPid(caDir, name, child.pid as number);
    await waitForPort(port);
  };
  await launch();
  const kill = async (): Promise<void> => {
    if (!child) return;
    const c = child;
    child = undefined;
    c.kill('SIGKILL');
    await exited(c);
  };
  const url = `nats://127.0.0.1:${port}`;
  return {
    url,
    port,
    configFile,
    client: (tls) => ({ servers: [url], seedFile: natsSeedOf(tls) }),
    async agent(site, host) {
      const tls = await agentTls(site, host);
      return { tls, nats: { servers: [url], seedFile: natsSeedOf(tls) } };
    },
    controller: () => ({ servers: [url], seedFile: path.join(caDir, 'controller.nk') }),
    kill,
    restart: launch,
    async stop() {
      unregisterNatsServer(caDir, name);
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
