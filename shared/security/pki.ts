/**
 * The fleet's certificates (DESIGN.md §12), made with @peculiar/x509 over Node's WebCrypto (no
 * hand-written ASN.1): a self-signed fleet CA, and leaf certificates carrying one identity URI
 * (shared/security/identity.ts) usable as both TLS server and client. Keys are ECDSA P-256, written as
 * PKCS#8 PEM with mode 0600; a key file readable by group or others is refused when loaded.
 */
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { formatIdentity, identityUri, type PeerIdentity } from './identity.js';
import { DEFAULT_LEAF_DAYS, readKeyFile, type TlsFiles } from './tls-files.js';
import { issueNatsCredentials, natsSeedOf } from './nats-users.js';
import { recordIssued } from './revocation.js';
import { ValidationError } from '../errors.js';

export { DEFAULT_LEAF_DAYS };

export type { TlsFiles } from './tls-files.js';

// @peculiar/x509 is typed against the DOM's Crypto; Node's webcrypto is the same API.
x509.cryptoProvider.set(webcrypto as never);

type Key = webcrypto.CryptoKey;
type KeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
export const DEFAULT_CA_DAYS = 3650;

/** A certificate and its private key, PEM. */
export interface Pem {
  cert: string;
  key: string;
}


const serial = (): string => `01${randomBytes(15).toString('hex')}`;

async function exportKey(key: Key): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string): Promise<Key> {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
}

/** A new self-signed fleet CA. */
export async function createCa(options: { name?: string; days?: number; now?: Date } = {}): Promise<Pem> {
  const now = options.now ?? new Date();
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${options.name ?? 'ffkeeper fleet CA'}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + (options.days ?? DEFAULT_CA_DAYS) * DAY_MS),
    keys: keys as never,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  });
  return { cert: cert.toString('pem'), key: await exportKey(keys.privateKey) };
}

export interface IssueOptions {
  identity: PeerIdentity;
  /** The holder's public key (from its CSR): no key is made, and the returned `key` is empty. */
  publicKey?: Key;
  days?: number;
  /** Explicit validity (tests: an expired certificate). */
  notBefore?: Date;
  notAfter?: Date;
  now?: Date;
  /** Server names and addresses the certificate is also for (a repository server's, e.g. `127.0.0.1`). */
  hosts?: string[];
}

/** A leaf certificate for `identity`, signed by `ca`: usable for TLS server and client authentication. */
export async function issueCertificate(ca: Pem, options: IssueOptions): Promise<Pem> {
  const now = options.now ?? new Date();
  const caCert = new x509.X509Certificate(ca.cert);
  const keys = options.publicKey ? undefined : ((await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${formatIdentity(options.identity).replace(/[,+=<>#;"\\]/g, '_')}`,
    issuer: caCert.subject,
    notBefore: options.notBefore ?? new Date(now.getTime() - 60_000),
    notAfter: options.notAfter ?? new Date(now.getTime() + (options.days ?? DEFAULT_LEAF_DAYS) * DAY_MS),
    publicKey: (options.publicKey ?? keys?.publicKey) as never,
    signingKey: (await importKey(ca.key)) as never,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: identityUri(options.identity) },
        ...(options.hosts ?? []).map((h) => ({ type: isIP(h) ? ('ip' as const) : ('dns' as const), value: h })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { cert: cert.toString('pem'), key: keys ? await exportKey(keys.privateKey) : '' };
}

/** Serial and end of validity of a PEM certificate. */
function facts(pem: string): { serial: string; notAfter: Date } {
  const c = new x509.X509Certificate(pem);
  return { serial: c.serialNumber, notAfter: c.notAfter };
}

/** Writes `<dir>/<name>.crt` and `<dir>/<name>.key` (0600), each replaced atomically. */
export function writePem(dir: string, name: string, pem: Pem): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  const put = (file: string, text: string, mode: number): void => {
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, text, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, file);
  };
  put(files.key, pem.key, 0o600);
  put(files.cert, pem.cert, 0o644);
  return files;
}

export function readPemPair(dir: string, name: string): Pem {
  return { cert: readFileSync(path.join(dir, `${name}.crt`), 'utf8'), key: readKeyFile(path.join(dir, `${name}.key`)).toString('utf8') };
}


/**
 * A new fleet CA in `dir` (`ca.crt`, `ca.key`) with the controller's (`controller.*`) and a first
 * operator's (`operator.*`) certificates, so `dir` is also that operator's TLS directory.
 */
export async function initCaDir(dir: string, o: { controllerId: string; operator: string; days?: number; caName?: string }): Promise<void> {
  const ca = await createCa(o.caName === undefined ? {} : { name: o.caName });
  writePem(dir, 'ca', ca);
  const days = o.days === undefined ? {} : { days: o.days };
  const controller: PeerIdentity = { kind: 'controller', id: o.controllerId };
  const controllerPem = await issueCertificate(ca, { identity: controller, ...days });
  recordIssued(dir, facts(controllerPem.cert).serial, controller, facts(controllerPem.cert).notAfter);
  const files = writePem(dir, 'controller', controllerPem);
  await issueNatsCredentials(dir, controller, natsSeedOf(files));
  const operator: PeerIdentity = { kind: 'operator', name: o.operator };
  const operatorPem = await issueCertificate(ca, { identity: operator, ...days });
  recordIssued(dir, facts(operatorPem.cert).serial, operator, facts(operatorPem.cert).notAfter);
  writePem(dir, 'operator', operatorPem);
}

/**
 * A certificate of `identity` signed by the CA in `caDir`, written to `outDir` as `<name>.crt` and
 * `<name>.key` (name: the identity's kind unless given) beside a copy of `ca.crt`: a process's TLS files.
 * Agents and controllers also get their NATS nkey seed, `<name>.nk` (natsSeedOf), accepted by the fleet's
 * registered nats-servers when this returns.
 */
export async function issueInto(caDir: string, outDir: string, identity: PeerIdentity, options: Omit<IssueOptions, 'identity'> & { name?: string } = {}): Promise<TlsFiles> {
  const { name = identity.kind, ...issue } = options;
  const pem = await issueCertificate(readPemPair(caDir, 'ca'), { identity, ...issue });
  const { serial: sn, notAfter } = facts(pem.cert);
  recordIssued(caDir, sn, identity, notAfter);
  const files = writePem(outDir, name, pem);
  const ca = path.join(outDir, 'ca.crt');
  if (path.resolve(outDir) !== path.resolve(caDir)) copyFileSync(path.join(caDir, 'ca.crt'), ca);
  if (identity.kind !== 'operator') await issueNatsCredentials(caDir, identity, natsSeedOf(files));
  return { ca, ...files };
}

/** A new key pair and a certificate request for it (the key never leaves the host that made it). */
export async function createCsr(identity: PeerIdentity): Promise<{ csr: string; key: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${formatIdentity(identity).replace(/[,+=<>#;"\\]/g, '_')}`,
    keys: keys as never,
    signingAlgorithm: ALG,
  });
  return { csr: csr.toString('pem'), key: await exportKey(keys.privateKey) };
}

/** Parses a certificate request and checks its signature; a ValidationError says what is wrong. */
export async function checkCsr(csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new ValidationError(`the certificate request is not a PEM PKCS#10 request: ${(err as Error).message}`, { field: 'csr' });
  }
  if (!(await csr.verify())) throw new ValidationError('the certificate request is not signed by the key it carries', { field: 'csr' });
  return csr;
}

/**
 * A certificate of `identity` (decided by the caller — never by the request's subject) for the key of a
 * certificate request whose signature proves the requester holds it. Returns the certificate and the CA's.
 */
export async function issueForCsr(caDir: string, identity: PeerIdentity, csrPem: string, days?: number): Promise<{ cert: string; ca: string }> {
  const csr = await checkCsr(csrPem);
  const ca = readPemPair(caDir, 'ca');
  const publicKey = await csr.publicKey.export(webcrypto as never);
  const pem = await issueCertificate(ca, { identity, publicKey: publicKey as unknown as Key, ...(days === undefined ? {} : { days }) });
  const { serial: sn, notAfter } = facts(pem.cert);
  recordIssued(caDir, sn, identity, notAfter);
  return { cert: pem.cert, ca: ca.cert };
}
