/**
 * An S3-compatible server for the S3 backend's tests: s3rver (npm, a Node implementation of the S3 API
 * kept on disk), over TLS with a certificate of its own CA, one bucket. Why s3rver: no S3 server is packaged
 * in Debian 12 (MinIO and Garage are not; Ceph's radosgw needs a cluster), and the npm registry is the one
 * other source here. It must run over TLS: over plain HTTP restic's S3 client (minio-go) signs uploads
 * chunk by chunk (aws-chunked), which s3rver stores as is — the objects come back corrupted.
 * Its limits, which the tests state rather than hide: one key pair (`S3RVER`/`S3RVER`; a wrong key id is
 * refused, a wrong secret is not checked) and no access policies, so there is no append-only login —
 * `repo qualify` reports such a repository NOT append-only, as it would any S3 login allowed to delete.
 */
import { mkdirSync } from 'node:fs';
import https from 'node:https';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { freePort } from '../../shared/net.js';
import type { RepositoryAccess } from '../../shared/repository/access.js';
import { tempDir, waitFor } from './processes.js';
import { serverTls, type TestRepositoryServer } from './rest-server.js';

/** The password of the S3 repositories made by the harness (configured, not generated). */
export const S3_REPOSITORY_PASSWORD = 's3 repositories of this test';
const BUCKET = 'ffkeeper';
/** s3rver's only key pair. */
export const S3_KEYS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

export interface S3Server extends TestRepositoryServer {
  port: number;
  caFile: string;
  caPem: string;
  /** The restic URL of `site`'s repository: `s3:https://127.0.0.1:PORT/ffkeeper/<site>`. */
  url(site: string): string;
}

export async function startS3Server(): Promise<S3Server> {
  const tmp = tempDir('ffk-s3-');
  const dir = path.join(tmp.dir, 'data');
  mkdirSync(dir);
  const { caPem, caFile, certFile, keyFile } = await serverTls(tmp.dir, 's3-repository');
  const port = await freePort();
  const bin = createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');
  const keepDirs = fileURLToPath(new URL('./s3rver-keep-dirs.mjs', import.meta.url));
  const spawnS3rver = (): ResultPromise =>
    execa(process.execPath, ['--import', keepDirs, bin, '-d', dir, '-a', '127.0.0.1', '-p', String(port), '--key', keyFile, '--cert', certFile, '--configure-bucket', BUCKET, '--silent'], {
      reject: false,
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'pipe',
      buffer: { stderr: true },
    });
  let proc = spawnS3rver();
  const listening = (): Promise<number> =>
    new Promise((resolve) => {
      const req = https.request({ host: '127.0.0.1', port, method: 'GET', path: `/${BUCKET}`, ca: caPem }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.setTimeout(5_000, () => req.destroy());
      req.on('error', () => resolve(0));
      req.end();
    });
  try {
    await waitFor(async () => ((await listening()) > 0 ? true : undefined), 20_000, 100);
  } catch (err) {
    proc.kill('SIGKILL');
    throw new Error(`s3rver did not start: ${String((await proc).stderr)}`, { cause: err });
  }
  // s3rver crashed (an unhandled ENOENT 'error' event) when a restic process wrote its lock into the locks
  // directory another one had just emptied, and s3rver removed (s3rver-keep-dirs.mjs keeps it now). Should
  // it exit anyway, it is started again on the same port and data, and the crash is printed.
  let stopping = false;
  const supervise = (p: ResultPromise): void => {
    void p.then((r) => {
      if (stopping) return;
      console.error(`s3rver on port ${port} exited before the test stopped it (${r.signal ? `signal ${r.signal}` : `code ${r.exitCode}`}), started again; stderr: ${String(r.stderr).slice(-2000)}`);
      proc = spawnS3rver();
      supervise(proc);
    });
  };
  supervise(proc);
  const url = (site: string): string => `s3:https://127.0.0.1:${port}/${BUCKET}/${site}`;
  const access = (site: string): RepositoryAccess => ({ url: url(site), password: S3_REPOSITORY_PASSWORD, env: { ...S3_KEYS }, caCert: caPem });
  return {
    dir,
    port,
    caFile,
    caPem,
    url,
    siteConfig: (site) => ({ url: url(site), password: S3_REPOSITORY_PASSWORD, env: { ...S3_KEYS }, caFile }),
    agentAccess: access,
    controllerAccess: access,
    dirOf: (site) => path.join(dir, BUCKET, site),
    async stop() {
      stopping = true;
      proc.kill('SIGTERM');
      await proc;
      tmp.cleanup();
    },
  };
}
