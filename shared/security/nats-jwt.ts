/**
 * NATS decentralized authentication (operator mode) without a JWT library — a spike (see
 * nats-jwt.test.ts): the nats-server trusts an operator; the accounts the operator signs are preloaded
 * into its configuration (`resolver: MEMORY`, `resolver_preload`); a user JWT signed by an account key
 * carries the user's permissions, so a new user needs no server change and no reload. Revoking a user
 * re-issues its account's JWT with the user in `revocations` (that does need a reload).
 *
 * A JWT is base64url(header) '.' base64url(claims) '.' base64url(ed25519 signature of the issuer nkey
 * over the first two parts), header `{"typ":"JWT","alg":"ed25519-nkey"}` — what github.com/nats-io/jwt/v2
 * writes (v2/claims.go `doEncode`) and nats-server 2.9.10 (jwt v2.3.0) reads. Field names are those of
 * jwt v2 (v2/account_claims.go, v2/user_claims.go, v2/operator_claims.go, v2/types.go).
 *
 * What nats-server 2.9.10 needs beyond the encoding (each shown by nats-jwt.test.ts):
 * - `max_control_line` above 4096: an agent's JWT (~8 KB of permissions) travels in its CONNECT line;
 * - the operator JWT byte-identical across reloads (sign it once);
 * - clients that do not name their `nkey` in CONNECT (`jwtCredentials`), or every reload closes them;
 * - "allow nothing" written as `deny: [">"]`: an empty allow list in a JWT means no restriction.
 */
import { createHash } from 'node:crypto';
import { nkeys } from '@nats-io/transport-node';

export type KeyPair = nkeys.KeyPair;

const HEADER = { typ: 'JWT', alg: 'ed25519-nkey' } as const;
/** jwt v2's "no limit". */
const NO_LIMIT = -1;

/** The claims every NATS JWT carries (jwt v2 `ClaimsData`, in its field order). */
export interface StandardClaims {
  aud?: string;
  exp?: number;
  jti: string;
  iat: number;
  iss: string;
  name?: string;
  nbf?: number;
  sub: string;
}

export interface NatsClaims<N extends { type: string; version: number } = { type: string; version: number }> extends StandardClaims {
  nats: N;
}

const b64url = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32, no padding (Go's `base32.StdEncoding.WithPadding(base32.NoPadding)`). */
export function base32NoPad(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * The claim ID as jwt v2 computes it (v2/claims.go `hash`): base32 (no padding) of SHA-512/256 over the
 * JSON of the standard claims alone (`ClaimsData`: aud, exp, jti, iat, iss, name, nbf, sub — empty ones
 * omitted, jti empty), after `iat` and `iss` are set. nats-server 2.9.10 never checks it (it reads `jti`
 * nowhere); it is kept so the tokens look like `nsc`'s.
 */
export function claimId(c: Omit<StandardClaims, 'jti'>): string {
  const data: Record<string, string | number> = {};
  for (const k of ['aud', 'exp', 'iat', 'iss', 'name', 'nbf', 'sub'] as const) {
    const v = c[k];
    if (v !== undefined && v !== '' && v !== 0) data[k] = v;
  }
  return base32NoPad(createHash('sha512-256').update(JSON.stringify(data)).digest());
}

/** Signs `nats` claims about `subject` by `issuer`: a JWT nats-server accepts. */
export function signJwt<N extends { type: string; version: number }>(
  issuer: KeyPair,
  subject: string,
  nats: N,
  opts: { name?: string; issuedAt?: number; expires?: number } = {},
): string {
  const base: Omit<StandardClaims, 'jti'> = {
    ...(opts.expires ? { exp: opts.expires } : {}),
    iat: opts.issuedAt ?? Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    ...(opts.name ? { name: opts.name } : {}),
    sub: subject,
  };
  const claims: NatsClaims<N> = { jti: claimId(base), ...base, nats };
  const signed = `${b64url(JSON.stringify(HEADER))}.${b64url(JSON.stringify(claims))}`;
  return `${signed}.${b64url(issuer.sign(new TextEncoder().encode(signed)))}`;
}

/** The claims of `jwt`, unverified. */
export function decodeJwt<N extends { type: string; version: number } = { type: string; version: number }>(jwt: string): NatsClaims<N> {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new Error('a JWT has three parts');
  return JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as NatsClaims<N>;
}

/** Whether `jwt`'s signature is its issuer's (`iss`). */
export function verifyJwt(jwt: string): boolean {
  const parts = jwt.split('.');
  if (parts.length !== 3) return false;
  try {
    const { iss } = decodeJwt(jwt);
    return nkeys.fromPublic(iss).verify(new TextEncoder().encode(`${parts[0]}.${parts[1]}`), Buffer.from(parts[2] as string, 'base64url'));
  } catch {
    return false;
  }
}

/** The operator's self-signed JWT (the server's `operator`). */
export function operatorJwt(operator: KeyPair, opts: { name: string; systemAccount: string; signingKeys?: string[]; issuedAt?: number }): string {
  return signJwt(
    operator,
    operator.getPublicKey(),
    { system_account: opts.systemAccount, ...(opts.signingKeys?.length ? { signing_keys: opts.signingKeys } : {}), type: 'operator', version: 2 },
    { name: opts.name, issuedAt: opts.issuedAt },
  );
}

export interface AccountJwtOptions {
  name: string;
  /** JetStream on, unlimited (mem_storage, disk_storage, streams, consumer all -1); off: those 0 (jwt v2's default). */
  jetstream: boolean;
  /** Revoked users: public key (or `*`: all) → unix seconds; a user JWT issued at or before that time is refused. */
  revocations?: Record<string, number>;
  /** Other keys that may sign this account's users (their JWTs then carry `issuer_account`). */
  signingKeys?: string[];
  issuedAt?: number;
}

/** An account JWT signed by the operator: no connection, subscription, data or import/export limits. */
export function accountJwt(operator: KeyPair, accountPublicKey: string, opts: AccountJwtOptions): string {
  if (!accountPublicKey.startsWith('A')) throw new Error(`${accountPublicKey} is not an account public key`);
  const js = opts.jetstream ? NO_LIMIT : 0;
  const limits = {
    // NatsLimits
    subs: NO_LIMIT,
    data: NO_LIMIT,
    payload: NO_LIMIT,
    // AccountLimits
    imports: NO_LIMIT,
    exports: NO_LIMIT,
    wildcards: true,
    conn: NO_LIMIT,
    leaf: NO_LIMIT,
    // JetStreamLimits: enabled when mem_storage or disk_storage is non-zero
    ...(opts.jetstream ? { mem_storage: js, disk_storage: js, streams: js, consumer: js } : {}),
  };
  const revocations = opts.revocations && Object.keys(opts.revocations).length ? { revocations: opts.revocations } : {};
  return signJwt(
    operator,
    accountPublicKey,
    { limits, ...(opts.signingKeys?.length ? { signing_keys: opts.signingKeys } : {}), ...revocations, type: 'account', version: 2 },
    { name: opts.name, issuedAt: opts.issuedAt },
  );
}

export interface UserJwtPermissions {
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[]; deny?: string[] };
}

/** jwt v2 `Permission` of an ffkeeper allow/deny pair. */
function permission(p: { allow: string[]; deny?: string[] }): { allow?: string[]; deny?: string[] } {
  // nats-server reads a JWT's empty allow list as "no restriction" (server/accounts.go
  // buildPermissionsFromJwt checks len(Allow) > 0), unlike a configuration file's `publish.allow: []`:
  // allowing nothing must be written as denying everything.
  if (p.allow.length === 0) return { deny: ['>'] };
  return { allow: p.allow, ...(p.deny?.length ? { deny: p.deny } : {}) };
}

export interface UserJwtOptions {
  name: string;
  permissions: UserJwtPermissions;
  /** The account the user belongs to, when `account` is one of its signing keys rather than the account key itself. */
  issuerAccount?: string;
  issuedAt?: number;
  /** Unix seconds after which the server refuses (and disconnects) the user. */
  expires?: number;
}

/** A user JWT signed by its account's key (or a signing key of it: `issuerAccount`), carrying the user's permissions. */
export function userJwt(account: KeyPair, userPublicKey: string, opts: UserJwtOptions): string {
  if (!userPublicKey.startsWith('U')) throw new Error(`${userPublicKey} is not a user public key`);
  return signJwt(
    account,
    userPublicKey,
    {
      pub: permission(opts.permissions.publish),
      sub: permission(opts.permissions.subscribe),
      subs: NO_LIMIT,
      data: NO_LIMIT,
      payload: NO_LIMIT,
      ...(opts.issuerAccount ? { issuer_account: opts.issuerAccount } : {}),
      type: 'user',
      version: 2,
    },
    { name: opts.name, issuedAt: opts.issuedAt, expires: opts.expires },
  );
}

/**
 * A `.creds` file: the user JWT and its nkey seed, as `nsc` and jwt v2 `FormatUserConfig` write it and
 * nats.js `credsAuthenticator` (and every NATS client, `nats --creds`) reads it.
 */
export function credsFile(jwt: string, seed: Uint8Array | string): string {
  const s = (typeof seed === 'string' ? seed : new TextDecoder().decode(seed)).trim();
  if (!s.startsWith('SU')) throw new Error('a creds file holds a user seed (SU…)');
  return [
    '-----BEGIN NATS USER JWT-----',
    jwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    s,
    '------END USER NKEY SEED------',
    '',
    '*************************************************************',
    '',
  ].join('\n');
}

/** The JWT and seed of a `.creds` file (parsed as nats.js `credsAuthenticator` does). */
export function parseCreds(text: string): { jwt: string; seed: string } {
  const blocks = [...text.matchAll(/\s*(?:(?:-{3,}[^\n]*-{3,}\n)(.+)(?:\n\s*-{3,}[^\n]*-{3,}\n))/g)].map((m) => (m[1] as string).trim());
  if (blocks.length < 2) throw new Error('unable to parse credentials: expected a JWT block and a seed block');
  return { jwt: blocks[0] as string, seed: blocks[1] as string };
}

/**
 * What a client sends in its CONNECT to authenticate as a JWT user (a nats.js `Authenticator`): the JWT and
 * the server's nonce signed with the user's seed — and, unlike nats.js's `credsAuthenticator` and
 * `jwtAuthenticator`, no `nkey` field. nats-server authenticates a JWT user by the JWT's subject and never
 * needs it; but on every configuration reload nats-server 2.9.10 closes each client whose CONNECT named an
 * `nkey` that the configuration does not list (server/reload.go `clientHasMovedToDifferentAccount`: "user/nkey
 * no longer exists") — in operator mode, every JWT user that sent one.
 */
export function jwtCredentials(jwt: string | (() => string), seed: Uint8Array | string | (() => Uint8Array | string)): (nonce?: string) => { jwt: string; sig?: string } {
  return (nonce) => {
    const token = typeof jwt === 'function' ? jwt() : jwt;
    if (!nonce) return { jwt: token };
    const s = typeof seed === 'function' ? seed() : seed;
    const kp = nkeys.fromSeed(typeof s === 'string' ? new TextEncoder().encode(s.trim()) : s);
    return { jwt: token, sig: Buffer.from(kp.sign(new TextEncoder().encode(nonce))).toString('base64url') };
  };
}

export interface JwtServerConfigOptions {
  /** `host:port` clients connect to. */
  listen: string;
  /** `host:port` of the monitoring endpoint; omitted: none. */
  monitor?: string;
  /** JetStream's store directory. */
  storeDir: string;
  /**
   * The trusted operator's JWT (written inline). Sign it once and keep it: nats-server 2.9 refuses a reload
   * whose operator JWT is not byte-identical ("config reload not supported for TrustedOperators"), and a
   * re-signed one differs (its `iat`, hence `jti`).
   */
  operatorJwt: string;
  /** The system account's public key (its JWT must be among `accounts`). */
  systemAccount: string;
  /** Every account the server knows: public key → JWT signed by the operator. */
  accounts: Record<string, string>;
  /**
   * The longest protocol line a client may send (`max_control_line`), default 64 KiB; 0: nats-server's own
   * default, 4096 bytes. The user JWT travels in the client's CONNECT line, and an ffkeeper agent's (its
   * permissions: ~8 KB) is over 4096: nats-server 2.9 then closes the connection ("maximum control line
   * exceeded"), which nats.js reports only as `write ECONNRESET`.
   */
  maxControlLine?: number;
}

/** See `JwtServerConfigOptions.maxControlLine`. */
export const JWT_MAX_CONTROL_LINE = 64 * 1024;

const quote = (s: string): string => JSON.stringify(s);

/** A nats-server (2.9) configuration in operator mode: accounts preloaded into a memory resolver, JetStream on. */
export function serverConfigJwt(o: JwtServerConfigOptions): string {
  if (!o.accounts[o.systemAccount]) throw new Error(`the system account ${o.systemAccount} has no JWT among the accounts`);
  return [
    '# Generated by ffkeeper — operator mode: users are JWTs signed by an account key, not listed here.',
    `listen: ${quote(o.listen)}`,
    ...(o.monitor ? [`http: ${quote(o.monitor)}`] : []),
    `jetstream: { store_dir: ${quote(o.storeDir)} }`,
    ...(o.maxControlLine === 0 ? [] : [`max_control_line: ${o.maxControlLine ?? JWT_MAX_CONTROL_LINE}`]),
    `operator: ${quote(o.operatorJwt)}`,
    `system_account: ${quote(o.systemAccount)}`,
    'resolver: MEMORY',
    'resolver_preload: {',
    ...Object.entries(o.accounts).map(([pub, jwt]) => `  ${pub}: ${quote(jwt)}`),
    '}',
    '',
  ].join('\n');
}
