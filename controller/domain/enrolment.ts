/**
 * Enrolling and revoking agents (issue 16). An admin asks for a one-time join token for `site/host`
 * (`ffkeeper agents enrol`); on that host `ffkeeper-agent enrol` presents it with a certificate request
 * for a key it made and its NATS public key; the controller checks the token (known, secret right, not
 * expired, not used — marked used atomically, so two presentations cannot both win), issues the
 * certificate of the token's site/host (never one the request asks for), and registers the NATS key.
 * Revoking an agent refuses its certificates and removes its NATS keys at once.
 */
import { IllegalStateError, NotFoundError, PermissionDeniedError, ValidationError } from '../../shared/errors.js';
import { isValidId } from '../../shared/ids.js';
import { checkOperatorName, type PeerIdentity } from '../../shared/security/identity.js';
import { formatJoinToken, newJoinToken, secretDigest, secretMatches } from '../../shared/security/join-token.js';

export const DEFAULT_JOIN_TTL_MS = 3_600_000;
export const MAX_JOIN_TTL_MS = 7 * 86_400_000;

export interface JoinTokenRecord {
  id: string;
  site: string;
  host: string;
  secretSha256: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string;
  usedAt?: string;
}

export interface JoinTokenStore {
  create(record: JoinTokenRecord): Promise<void>;
  get(id: string): Promise<{ record: JoinTokenRecord; revision: number } | undefined>;
  /** Replaces the record if it is still at `revision`; false when another writer came first. */
  update(record: JoinTokenRecord, revision: number): Promise<boolean>;
}

/** The fleet CA, as the controller uses it. */
export interface CertificateAuthority {
  /** base64url SHA-256 of the CA certificate (put in tokens). */
  caSha256(): string;
  /** Throws a ValidationError naming what is wrong with a request (before its token is spent). */
  check(csrPem: string, natsPublicKey: string): Promise<void>;
  issue(identity: PeerIdentity, csrPem: string): Promise<{ cert: string; ca: string }>;
  addNatsKey(identity: PeerIdentity, publicKey: string): Promise<void>;
  /** Refuses every certificate issued to `identity` so far and removes its NATS keys. */
  revoke(identity: PeerIdentity): Promise<{ certificates: number; natsKeys: boolean }>;
}

export interface EnrolmentDeps {
  tokens: JoinTokenStore;
  authority: CertificateAuthority;
  /** Where agents reach the Enrolment service (shown with each token); undefined: it is not served. */
  enrolmentAddress: () => string | undefined;
  /** Told after a revocation (drop connections to that agent). */
  onRevoked?: (identity: PeerIdentity) => void;
  /** Removes an operator's web console tokens (revoked with its certificates); how many it had. */
  revokeConsoleTokens?: (operator: string) => Promise<number>;
  now?: () => Date;
}

export interface JoinTokenIssued {
  token: string;
  id: string;
  expiresAt: Date;
  enrolmentAddress: string;
}

export interface EnrolRequest {
  tokenId: string;
  secret: string;
  csrPem: string;
  natsPublicKey: string;
}

export interface Enrolled {
  site: string;
  host: string;
  cert: string;
  ca: string;
}

function agentIdentity(site: string, host: string): PeerIdentity {
  if (!isValidId(site)) throw new ValidationError(`site '${site}' is not a valid site id`, { field: 'site' });
  if (!isValidId(host)) throw new ValidationError(`host '${host}' is not a valid host id`, { field: 'host' });
  return { kind: 'agent', site, host };
}

export class EnrolmentService {
  constructor(private readonly deps: EnrolmentDeps) {}

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  async createToken(site: string, host: string, ttlMs: number | undefined, createdBy: string): Promise<JoinTokenIssued> {
    agentIdentity(site, host);
    const enrolmentAddress = this.deps.enrolmentAddress();
    if (enrolmentAddress === undefined) throw new IllegalStateError('this controller serves no enrolment (config enrolment.listen): a join token could not be used');
    const ttl = ttlMs ?? DEFAULT_JOIN_TTL_MS;
    if (!Number.isFinite(ttl) || ttl < 1000 || ttl > MAX_JOIN_TTL_MS) throw new ValidationError(`a join token lives 1 s to 7 days, not ${ttl} ms`, { field: 'ttl' });
    const token = newJoinToken(this.deps.authority.caSha256());
    const now = this.now();
    const expiresAt = new Date(now.getTime() + ttl);
    await this.deps.tokens.create({ id: token.id, site, host, secretSha256: secretDigest(token.secret), createdAt: now.toISOString(), createdBy, expiresAt: expiresAt.toISOString() });
    return { token: formatJoinToken(token), id: token.id, expiresAt, enrolmentAddress };
  }

  async enrol(req: EnrolRequest): Promise<Enrolled> {
    const found = await this.deps.tokens.get(req.tokenId);
    if (!found || !secretMatches(req.secret, found.record.secretSha256)) throw new PermissionDeniedError(`join token ${req.tokenId} is not valid`);
    const { record, revision } = found;
    if (record.usedAt) throw new PermissionDeniedError(`join token ${record.id} (${record.site}/${record.host}) was already used at ${record.usedAt}; ask for a new one (ffkeeper agents enrol)`);
    const now = this.now();
    if (now.getTime() >= Date.parse(record.expiresAt)) throw new PermissionDeniedError(`join token ${record.id} (${record.site}/${record.host}) expired at ${record.expiresAt}; ask for a new one (ffkeeper agents enrol)`);
    await this.deps.authority.check(req.csrPem, req.natsPublicKey);
    // Used from now on, whatever follows: a token is never good twice.
    if (!(await this.deps.tokens.update({ ...record, usedAt: now.toISOString() }, revision))) {
      throw new PermissionDeniedError(`join token ${record.id} (${record.site}/${record.host}) was already used`);
    }
    const identity = agentIdentity(record.site, record.host);
    const issued = await this.deps.authority.issue(identity, req.csrPem);
    await this.deps.authority.addNatsKey(identity, req.natsPublicKey);
    return { site: record.site, host: record.host, cert: issued.cert, ca: issued.ca };
  }

  /**
   * Refuses every certificate issued to operator `name` from now on. The caller cannot revoke itself
   * (it would lock out the only admin it knows of); another admin can.
   */
  /** Refuses every certificate of the operator and removes its web console tokens (its open pages end). */
  async revokeOperator(name: string, by?: PeerIdentity): Promise<{ certificates: number; consoleTokens: number }> {
    checkOperatorName(name);
    if (by?.kind === 'operator' && by.name === name) throw new ValidationError(`operator '${name}' cannot revoke its own certificate; another admin can`, { field: 'name' });
    const identity: PeerIdentity = { kind: 'operator', name };
    const result = await this.deps.authority.revoke(identity);
    const consoleTokens = (await this.deps.revokeConsoleTokens?.(name)) ?? 0;
    if (result.certificates === 0 && consoleTokens === 0) throw new NotFoundError(`operator '${name}' has neither a certificate from the fleet CA nor a console token`);
    this.deps.onRevoked?.(identity);
    return { certificates: result.certificates, consoleTokens };
  }

  async revoke(site: string, host: string): Promise<{ certificates: number; natsKeys: boolean }> {
    const identity = agentIdentity(site, host);
    const result = await this.deps.authority.revoke(identity);
    if (result.certificates === 0 && !result.natsKeys) throw new NotFoundError(`the fleet CA never issued anything to agent ${site}/${host}`);
    this.deps.onRevoked?.(identity);
    return result;
  }
}
