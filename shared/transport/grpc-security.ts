/**
 * mTLS for every gRPC connection of ffkeeper (DESIGN.md §12). Servers require a client certificate
 * signed by the fleet CA; clients check the server's certificate against the CA and then its identity
 * URI (shared/security/identity.ts) instead of a host name. Certificates are re-read from disk when
 * their files change (checked every few seconds), so a renewed certificate needs no restart. `insecure`
 * (a lab switch) serves and dials plaintext.
 */
import { readFileSync, statSync } from 'node:fs';
import { credentials, experimental, ServerCredentials, type ChannelCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { PermissionDeniedError } from '../errors.js';
import { formatIdentity, identityOfSubjectAltName, type PeerIdentity } from '../security/identity.js';
import type { TlsFiles } from '../security/tls-files.js';
import { toServiceError } from './grpc-errors.js';

export type GrpcSecurity = { tls: TlsFiles } | { insecure: true };

const REFRESH_MS = 5_000;

type CaListener = experimental.CaCertificateUpdateListener;
type IdListener = experimental.IdentityCertificateUpdateListener;

/** Serves the CA and the identity from files, re-read when a file's mtime or size changes; its timer never holds the process. */
class TlsFilesProvider implements experimental.CertificateProvider {
  private readonly ca = new Set<CaListener>();
  private readonly id = new Set<IdListener>();
  private timer: NodeJS.Timeout | undefined;
  private stamp = '';
  private latest: { caCertificate: Buffer; certificate: Buffer; privateKey: Buffer } | undefined;

  constructor(private readonly files: TlsFiles) {}

  addCaCertificateListener(l: CaListener): void {
    this.ca.add(l);
    this.watch();
    if (this.latest) process.nextTick(l, { caCertificate: this.latest.caCertificate });
  }
  removeCaCertificateListener(l: CaListener): void {
    this.ca.delete(l);
    this.unwatch();
  }
  addIdentityCertificateListener(l: IdListener): void {
    this.id.add(l);
    this.watch();
    if (this.latest) process.nextTick(l, { certificate: this.latest.certificate, privateKey: this.latest.privateKey });
  }
  removeIdentityCertificateListener(l: IdListener): void {
    this.id.delete(l);
    this.unwatch();
  }

  private watch(): void {
    if (this.timer) return;
    this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  private unwatch(): void {
    if (this.ca.size > 0 || this.id.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private refresh(): void {
    try {
      const { ca, cert, key } = this.files;
      const stamp = [ca, cert, key].map((f) => { const s = statSync(f); return `${s.mtimeMs}:${s.size}`; }).join('|');
      if (stamp === this.stamp) return;
      this.latest = { caCertificate: readFileSync(ca), certificate: readFileSync(cert), privateKey: readFileSync(key) };
      this.stamp = stamp;
      for (const l of this.ca) l({ caCertificate: this.latest.caCertificate });
      for (const l of this.id) l({ certificate: this.latest.certificate, privateKey: this.latest.privateKey });
    } catch {
      // A file being replaced: the previous material stays in use until the next check reads it whole.
    }
  }
}

const providers = new Map<string, TlsFilesProvider>();

function providerOf(files: TlsFiles): TlsFilesProvider {
  const key = `${files.ca}\n${files.cert}\n${files.key}`;
  let p = providers.get(key);
  if (!p) providers.set(key, (p = new TlsFilesProvider(files)));
  return p;
}

export function serverCredentials(security: GrpcSecurity): ServerCredentials {
  if ('insecure' in security) return ServerCredentials.createInsecure();
  const p = providerOf(security.tls);
  return experimental.createCertificateProviderServerCredentials(p, p, true);
}

/**
 * Channel credentials; `checkPeer` judges the server's identity (undefined: its certificate carries
 * none) and returns why it is refused, or undefined to accept it.
 */
export function channelCredentials(security: GrpcSecurity, checkPeer: (peer: PeerIdentity | undefined, cert: PeerCertificate) => string | undefined): ChannelCredentials {
  if ('insecure' in security) return credentials.createInsecure();
  const p = providerOf(security.tls);
  return experimental.createCertificateProviderChannelCredentials(p, p, {
    checkServerIdentity: (_host: string, cert: PeerCertificate) => {
      const why = checkPeer(identityOfSubjectAltName(cert.subjectaltname), cert);
      return why ? new PermissionDeniedError(why) : undefined;
    },
  });
}

/** Accepts a server whose certificate names exactly `expected`. */
export function expectPeer(expected: PeerIdentity): (peer: PeerIdentity | undefined) => string | undefined {
  return (peer) => {
    if (!peer) return `the server's certificate carries no ffkeeper identity; expected ${formatIdentity(expected)}`;
    return formatIdentity(peer) === formatIdentity(expected) ? undefined : `the server's certificate is for ${formatIdentity(peer)}, not ${formatIdentity(expected)}`;
  };
}

/** The identity in the client certificate of a call (undefined on a plaintext connection). */
export function peerIdentityOf(call: { getAuthContext?: () => { sslPeerCertificate?: PeerCertificate } | null }): PeerIdentity | undefined {
  return identityOfSubjectAltName(call.getAuthContext?.()?.sslPeerCertificate?.subjectaltname);
}

/** Decides whether `peer` may call `method`; throws (a PermissionDeniedError) when not. */
export type Authorize = (peer: PeerIdentity | undefined, method: string) => void;

/** A server call as a method wrapper sees it (unary or server-streaming). */
export type ServerCall = Parameters<typeof peerIdentityOf>[0] & {
  request?: unknown;
  getPeer?: () => string;
  write?: (chunk: unknown, ...args: unknown[]) => unknown;
  end?: (...args: unknown[]) => unknown;
  emit?: (event: string | symbol, ...args: unknown[]) => boolean;
};
export type UnaryCallback = (err: unknown, res: unknown) => void;
export type MethodHandler = (call: ServerCall, callback?: UnaryCallback) => void;

/** Wraps every method of a service implementation: `wrap` gets its name, whether it streams its answer, and its handler. */
export function wrapMethods<I extends UntypedServiceImplementation>(definition: ServiceDefinition, impl: I, wrap: (method: string, streaming: boolean, handler: MethodHandler) => MethodHandler): I {
  const out: UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(impl)) {
    out[method] = wrap(method, definition[method]?.responseStream === true, handler as MethodHandler) as never;
  }
  return out as I;
}

/** Answers a call with `err`, as its kind needs: the callback of a unary call, the error event of a stream. */
export function refuseCall(call: ServerCall, callback: UnaryCallback | undefined, streaming: boolean, err: unknown): void {
  if (streaming || !callback) call.emit?.('error', toServiceError(err));
  else callback(toServiceError(err), null);
}

/** Wraps every method of a service implementation with `authorize`, before the handler runs. */
export function authorizeAll<I extends UntypedServiceImplementation>(definition: ServiceDefinition, impl: I, authorize: Authorize): I {
  return wrapMethods(definition, impl, (method, streaming, handler) => (call, callback) => {
    try {
      authorize(peerIdentityOf(call), method);
    } catch (err) {
      refuseCall(call, callback, streaming, err);
      return;
    }
    handler(call, callback);
  });
}

/** Lets only peers of `kind` call `service` (an agent serves the controller; the controller serves operators). */
export function onlyKind(kind: PeerIdentity['kind'], service: string): Authorize {
  return (peer, method) => {
    if (!peer) throw new PermissionDeniedError(`${service}: ${method} refused: the client certificate carries no ffkeeper identity`);
    if (peer.kind !== kind) throw new PermissionDeniedError(`${service}: ${method} refused: ${formatIdentity(peer)} may not call it (only ${kind === 'operator' ? 'an' : 'a'} ${kind} may)`);
  };
}

/**
 * Channel options for `security`: with TLS, the name sent in SNI is fixed — peers are judged by their
 * certificate's identity URI, not a host name, and an IP address is not a valid SNI name (RFC 6066).
 */
export function channelOptions(security: GrpcSecurity): Record<string, string> {
  return 'insecure' in security ? {} : { 'grpc.ssl_target_name_override': 'ffkeeper' };
}
