/**
 * `ffkeeper-agent enrol`: obtains this host's certificate and NATS key with a join token (issue 16).
 * 1. The controller's enrolment address is trusted only if the certificate chain it presents ends in the
 *    CA whose SHA-256 the token carries, and its certificate is a controller's signed by that CA.
 * 2. A key pair and a certificate request are made here, and an nkey: no private key leaves this host.
 * 3. The token, the request and the NATS public key are sent; the certificate of the token's site/host
 *    comes back. The files are written to `--out` (keys 0600) and the config lines to use are printed.
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls, { type PeerCertificate } from 'node:tls';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { EnrolmentClient, type EnrolRequest, type EnrolResponse } from '../proto/gen/ffkeeper/v1/controller.js';
import { PermissionDeniedError, UnavailableError, ValidationError } from '../shared/errors.js';
import { formatIdentity, identityOfSubjectAltName } from '../shared/security/identity.js';
import { certificateSha256, parseJoinToken } from '../shared/security/join-token.js';
import { createNatsUser } from '../shared/security/nats-users.js';
import { fromServiceError } from '../shared/transport/grpc-errors.js';

export interface EnrolOptions {
  controller: string;
  out: string;
  /** The token itself (from FFKEEPER_JOIN_TOKEN, a file or stdin: never from the command line unless the operator insists). */
  token: string;
}

const toPem = (raw: Buffer): string => `-----BEGIN CERTIFICATE-----\n${raw.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new ValidationError(`--controller '${address}' must be host:port (the enrolment address printed with the token)`, { field: 'controller' });
  return { host: address.slice(0, i), port };
}

/** The fleet CA's certificate as the server at `address` presents it, checked against the token's fingerprint. */
async function trustedCa(address: string, caSha256: string): Promise<string> {
  const { host, port } = splitAddress(address);
  const chain = await new Promise<PeerCertificate[]>((resolve, reject) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: 'ffkeeper' }, () => {
      const out: PeerCertificate[] = [];
      let c: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
      while (c && Object.keys(c).length > 0 && !out.includes(c)) {
        out.push(c);
        c = c.issuerCertificate === c ? undefined : c.issuerCertificate;
      }
      socket.end();
      resolve(out);
    });
    socket.setTimeout(15_000, () => socket.destroy(new Error('no TLS handshake within 15 s')));
    socket.on('error', (err) => reject(new UnavailableError(`cannot reach the controller's enrolment address ${address}: ${err.message}`, { cause: err })));
  });
  const leaf = chain[0];
  const ca = chain.find((c) => certificateSha256(toPem(c.raw)) === caSha256);
  if (!leaf || !ca) throw new PermissionDeniedError(`the server at ${address} does not present the fleet CA this token names (fingerprint ${caSha256.slice(0, 12)}…): not the controller that issued the token`);
  const caPem = toPem(ca.raw);
  const leafCert = new X509Certificate(leaf.raw);
  const id = identityOfSubjectAltName(leafCert.subjectAltName);
  if (!leafCert.verify(new X509Certificate(caPem).publicKey) || id?.kind !== 'controller') {
    throw new PermissionDeniedError(`the server at ${address} presents ${id ? formatIdentity(id) : 'a certificate without an ffkeeper identity'}, not a controller certificate signed by the fleet CA`);
  }
  return caPem;
}

function writeFile(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

export interface Enrolment {
  site: string;
  host: string;
  files: { ca: string; cert: string; key: string; seed: string };
}

export async function enrol(o: EnrolOptions): Promise<Enrolment> {
  const token = parseJoinToken(o.token);
  const caPem = await trustedCa(o.controller, token.caSha256);
  const { createCsr } = await import('../shared/security/pki.js');
  // The identity in the request is a placeholder: the controller decides it from the token.
  const { csr, key } = await createCsr({ kind: 'agent', site: 'enrolling', host: 'enrolling' });
  const nats = createNatsUser();
  const client = new EnrolmentClient(
    o.controller,
    credentials.createSsl(Buffer.from(caPem), null, null, {
      checkServerIdentity: (_host, cert) => (identityOfSubjectAltName(cert.subjectaltname)?.kind === 'controller' ? undefined : new Error('not a controller certificate')),
    }),
    { 'grpc.ssl_target_name_override': 'ffkeeper' },
  );
  const req: EnrolRequest = { tokenId: token.id, secret: token.secret, csrPem: csr, natsPublicKey: nats.publicKey };
  let res: EnrolResponse;
  try {
    res = await new Promise<EnrolResponse>((resolve, reject) => {
      client.enrol(req, new Metadata(), { deadline: Date.now() + 60_000 }, (err: ServiceError | null, r?: EnrolResponse) => (err || !r ? reject(fromServiceError(err as ServiceError, `controller ${o.controller}`)) : resolve(r)));
    });
  } finally {
    client.close();
  }
  mkdirSync(o.out, { recursive: true, mode: 0o700 });
  const files = { ca: path.join(o.out, 'ca.crt'), cert: path.join(o.out, 'agent.crt'), key: path.join(o.out, 'agent.key'), seed: path.join(o.out, 'agent.nk') };
  writeFile(files.key, key, 0o600);
  writeFile(files.seed, `${nats.seed}\n`, 0o600);
  writeFile(files.cert, res.certificatePem, 0o644);
  writeFile(files.ca, res.caPem, 0o644);
  return { site: res.site, host: res.host, files };
}

/** The token from the environment, a file (`@file`), or stdin (`-`). */
export function readToken(given: string | undefined, env: NodeJS.ProcessEnv): string {
  const value = given ?? env.FFKEEPER_JOIN_TOKEN;
  if (!value) throw new ValidationError('no join token: set FFKEEPER_JOIN_TOKEN, or pass --token @FILE or --token - (stdin)', { field: 'token' });
  if (value === '-') return readFileSync(0, 'utf8').trim();
  if (value.startsWith('@')) return readFileSync(value.slice(1), 'utf8').trim();
  return value;
}
