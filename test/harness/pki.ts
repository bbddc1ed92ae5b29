/**
 * The fleet PKI of a test run (or a bench run): one CA with the controller's (`controller-1`) and an
 * operator's (`admin`, the controller's default admin) certificates, made once per process tree — the directory is passed down in
 * FFK_TEST_PKI_DIR, and FFKEEPER_TLS_DIR points every `ffkeeper` CLI child at the operator certificate.
 * Agents' certificates are issued per site/host on demand.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initCaDir, issueInto, type TlsFiles } from '../../shared/security/pki.js';
import type { PeerIdentity } from '../../shared/security/identity.js';
import type { GrpcSecurity } from '../../shared/transport/grpc-security.js';

export const TEST_PKI_ENV = 'FFK_TEST_PKI_DIR';
export const TEST_OPERATOR = 'admin';
export const TEST_CONTROLLER_ID = 'controller-1';

/** Creates the run's PKI unless the environment names one; returns its directory. */
export async function ensureTestPki(): Promise<string> {
  const given = process.env[TEST_PKI_ENV];
  if (given && existsSync(path.join(given, 'ca.key'))) return given;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-test-pki-'));
  // The operator is the controller's default admin.
  await initCaDir(dir, { controllerId: TEST_CONTROLLER_ID, operator: TEST_OPERATOR, caName: 'ffkeeper test CA' });
  process.env[TEST_PKI_ENV] = dir;
  process.env.FFKEEPER_TLS_DIR = dir;
  return dir;
}

export function testPkiDir(): string {
  const dir = process.env[TEST_PKI_ENV];
  if (!dir) throw new Error(`${TEST_PKI_ENV} is not set: the test PKI was not created (test/global-setup.ts, or await ensureTestPki())`);
  return dir;
}

export function controllerTls(): TlsFiles {
  const dir = testPkiDir();
  return { ca: path.join(dir, 'ca.crt'), cert: path.join(dir, 'controller.crt'), key: path.join(dir, 'controller.key') };
}

/** The operator's security for in-process controller API clients. */
export function operatorSecurity(): GrpcSecurity {
  const dir = testPkiDir();
  return { tls: { ca: path.join(dir, 'ca.crt'), cert: path.join(dir, 'operator.crt'), key: path.join(dir, 'operator.key') } };
}

/** The controller's security for in-process agent clients. */
export function controllerSecurity(): GrpcSecurity {
  return { tls: controllerTls() };
}

/** A new certificate for `identity` in its own directory (ca.crt, <kind>.crt, <kind>.key), with explicit validity if given. */
export async function issueTestCertificate(identity: PeerIdentity, options: { notBefore?: Date; notAfter?: Date; caDir?: string } = {}): Promise<TlsFiles> {
  const { caDir = testPkiDir(), ...validity } = options;
  return issueInto(caDir, mkdtempSync(path.join(testPkiDir(), `${identity.kind}-`)), identity, validity);
}

export function agentTls(site: string, host: string): Promise<TlsFiles> {
  return issueTestCertificate({ kind: 'agent', site, host });
}
