/**
 * A restic REST backend as a site's storage off the host would be: `rclone serve restic` (Debian's rclone)
 * over TLS with a certificate of its own CA, basic auth from an htpasswd file, and two endpoints on one
 * directory — an append-only one for agents (`--append-only`: nothing can be deleted or overwritten, lock
 * files excepted) and a full one for the controller's maintenance (forget, prune, delete). rclone's object
 * cache is off on both, so one endpoint sees what the other removed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { createCa, issueCertificate } from '../../shared/security/pki.js';
import { freePort } from '../../shared/net.js';
import type { RepositoryAccess } from '../../shared/repository/access.js';
import { tempDir, waitFor } from './processes.js';

export interface RestEndpoint {
  /** `https://user:password@127.0.0.1:PORT` */
  base: string;
  user: string;
  password: string;
  port: number;
}

/** A storage server holding sites' repositories, as the fleet harness configures them (rest-server, sftp-server). */
export interface TestRepositoryServer {
  /** The directory holding the repositories. */
  dir: string;
  /** The controller's `repositories.sites.<site>` entry. */
  siteConfig(site: string): Record<string, unknown>;
  /** How agents reach the site's repository. */
  agentAccess(site: string): RepositoryAccess;
  /** How the controller reaches it (its maintenance credentials where they differ). */
  controllerAccess(site: string): RepositoryAccess;
  /** The site's repository files on this machine. */
  dirOf(site: string): string;
  stop(): Promise<void>;
}

/** The password of the REST repositories made by the harness (configured, not generated). */
export const REST_REPOSITORY_PASSWORD = 'rest repositories of this test';

export interface RestServer extends TestRepositoryServer {
  /** The directory both endpoints serve: `<dir>/<site>` is a site's repository. */
  dir: string;
  /** PEM file of the CA that signed the server's certificate (a site's `caFile`). */
  caFile: string;
  caPem: string;
  agent: RestEndpoint;
  maintenance: RestEndpoint;
  /** The restic URL of `site`'s repository through one endpoint. */
  url(site: string, who: 'agent' | 'maintenance'): string;
  /** A raw HTTP request to an endpoint, as an attacker holding its credentials would send it: the status. */
  request(who: 'agent' | 'maintenance', method: string, urlPath: string, body?: Buffer): Promise<number>;
  stop(): Promise<void>;
}

/**
 * A storage server's TLS files in `dir`: a CA of its own (`ca.crt`, what a site's `caFile` names), and a
 * certificate for 127.0.0.1/localhost with its chain (`server.crt`) and key (`server.key`).
 */
export async function serverTls(dir: string, id: string): Promise<{ caPem: string; caFile: string; certFile: string; keyFile: string }> {
  const ca = await createCa({ name: `ffkeeper test ${id} CA` });
  const leaf = await issueCertificate(ca, { identity: { kind: 'controller', id }, hosts: ['127.0.0.1', 'localhost'] });
  const caFile = path.join(dir, 'ca.crt');
  const certFile = path.join(dir, 'server.crt');
  const keyFile = path.join(dir, 'server.key');
  writeFileSync(caFile, ca.cert);
  writeFileSync(certFile, `${leaf.cert.trim()}\n${ca.cert.trim()}\n`);
  writeFileSync(keyFile, leaf.key, { mode: 0o600 });
  return { caPem: ca.cert, caFile, certFile, keyFile };
}

/** `{SHA}` htpasswd entries (rclone reads them; no extra tool needed). */
function htpasswdLine(user: string, password: string): string {
  return `${user}:{SHA}${createHash('sha1').update(password).digest('base64')}`;
}

export async function startRestServer(): Promise<RestServer> {
  const tmp = tempDir('ffk-rest-');
  const dir = path.join(tmp.dir, 'repos');
  mkdirSync(dir);
  const { caPem, caFile, certFile, keyFile } = await serverTls(tmp.dir, 'rest-repository');
  const endpoint = async (user: string): Promise<RestEndpoint> => {
    const password = randomBytes(12).toString('base64url');
    const port = await freePort();
    return { base: `https://${user}:${password}@127.0.0.1:${port}`, user, password, port };
  };
  const agent = await endpoint('agent');
  const maintenance = await endpoint('maint');
  const serve = (e: RestEndpoint, appendOnly: boolean): ResultPromise => {
    const htpasswd = path.join(tmp.dir, `${e.user}.htpasswd`);
    writeFileSync(htpasswd, `${htpasswdLine(e.user, e.password)}\n`, { mode: 0o600 });
    const args = ['serve', 'restic', dir, '--addr', `127.0.0.1:${e.port}`, '--cert', certFile, '--key', keyFile, '--htpasswd', htpasswd, '--cache-objects=false', '--config', '/dev/null'];
    if (appendOnly) args.push('--append-only');
    return execa('rclone', args, { reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe', buffer: { stderr: true } });
  };
  const procs = [serve(agent, true), serve(maintenance, false)];
  const request = (who: 'agent' | 'maintenance', method: string, urlPath: string, body?: Buffer): Promise<number> => {
    const e = who === 'agent' ? agent : maintenance;
    return new Promise((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: e.port, method, path: urlPath, ca: caPem, auth: `${e.user}:${e.password}`, headers: body ? { 'content-length': body.length } : {} },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${urlPath}: no answer in 10 s`)));
      req.on('error', reject);
      req.end(body);
    });
  };
  try {
    // Listening and serving TLS: an unauthenticated request is answered 401.
    await waitFor(async () => {
      const codes = await Promise.all([request('agent', 'GET', '/').catch(() => 0), request('maintenance', 'GET', '/').catch(() => 0)]);
      return codes.every((c) => c > 0) ? true : undefined;
    }, 20_000, 100);
  } catch (err) {
    for (const p of procs) p.kill('SIGKILL');
    const logs = (await Promise.all(procs)).map((r) => String(r.stderr)).join('\n');
    throw new Error(`rclone serve restic did not start: ${logs}`, { cause: err });
  }
  const url = (site: string, who: 'agent' | 'maintenance'): string => `rest:${(who === 'agent' ? agent : maintenance).base}/${site}`;
  return {
    dir,
    caFile,
    caPem,
    agent,
    maintenance,
    url,
    siteConfig: (site) => ({ url: url(site, 'agent'), password: REST_REPOSITORY_PASSWORD, caFile, maintenance: { url: url(site, 'maintenance') } }),
    agentAccess: (site) => ({ url: url(site, 'agent'), password: REST_REPOSITORY_PASSWORD, env: {}, caCert: caPem }),
    controllerAccess: (site) => ({ url: url(site, 'maintenance'), password: REST_REPOSITORY_PASSWORD, env: {}, caCert: caPem }),
    dirOf: (site) => path.join(dir, site),
    request,
    async stop() {
      for (const p of procs) p.kill('SIGTERM');
      await Promise.all(procs);
      tmp.cleanup();
    },
  };
}
