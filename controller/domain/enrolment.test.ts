import { describe, expect, it } from 'vitest';
import { NotFoundError, PermissionDeniedError, ValidationError } from '../../shared/errors.js';
import type { PeerIdentity } from '../../shared/security/identity.js';
import { parseJoinToken } from '../../shared/security/join-token.js';
import { EnrolmentService, type CertificateAuthority, type JoinTokenRecord, type JoinTokenStore } from './enrolment.js';

class MemoryTokens implements JoinTokenStore {
  readonly records = new Map<string, { record: JoinTokenRecord; revision: number }>();
  create(record: JoinTokenRecord): Promise<void> {
    this.records.set(record.id, { record, revision: 1 });
    return Promise.resolve();
  }
  get(id: string): Promise<{ record: JoinTokenRecord; revision: number } | undefined> {
    return Promise.resolve(this.records.get(id));
  }
  async update(record: JoinTokenRecord, revision: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, 5)); // two enrolments interleave here
    const cur = this.records.get(record.id);
    if (!cur || cur.revision !== revision) return false;
    this.records.set(record.id, { record, revision: revision + 1 });
    return true;
  }
}

class FakeAuthority implements CertificateAuthority {
  issued: PeerIdentity[] = [];
  nats: string[] = [];
  revoked: PeerIdentity[] = [];
  caSha256(): string {
    return 'Q0FDQUNBQ0FDQUNBQ0FDQUNBQ0FDQUNBQ0FDQUNBQ0E';
  }
  check(csrPem: string, natsPublicKey: string): Promise<void> {
    if (!csrPem.startsWith('CSR')) return Promise.reject(new ValidationError('the certificate request is not a PEM PKCS#10 request'));
    if (!natsPublicKey.startsWith('U')) return Promise.reject(new ValidationError('not a NATS user public key'));
    return Promise.resolve();
  }
  issue(identity: PeerIdentity): Promise<{ cert: string; ca: string }> {
    this.issued.push(identity);
    return Promise.resolve({ cert: 'CERT', ca: 'CA' });
  }
  addNatsKey(_identity: PeerIdentity, publicKey: string): Promise<void> {
    this.nats.push(publicKey);
    return Promise.resolve();
  }
  revoke(identity: PeerIdentity): Promise<{ certificates: number; natsKeys: boolean }> {
    this.revoked.push(identity);
    const n = this.issued.filter((i) => JSON.stringify(i) === JSON.stringify(identity)).length;
    return Promise.resolve({ certificates: n, natsKeys: n > 0 });
  }
}

function setup(now = new Date('2026-12-03T10:00:00Z')) {
  const clock = { now };
  const tokens = new MemoryTokens();
  const authority = new FakeAuthority();
  const revokedSeen: PeerIdentity[] = [];
  const service = new EnrolmentService({ tokens, authority, enrolmentAddress: () => '10.0.0.5:7701', onRevoked: (i) => revokedSeen.push(i), now: () => clock.now });
  return { clock, tokens, authority, service, revokedSeen };
}

describe('EnrolmentService', () => {
  it('issues the certificate of the token\'s site/host, once, and keeps only the hash of the secret', async () => {
    const { service, tokens, authority } = setup();
    const t = await service.createToken('msk-1', 'db', undefined, 'operator admin');
    expect(t.enrolmentAddress).toBe('10.0.0.5:7701');
    expect(t.expiresAt.toISOString()).toBe('2026-12-03T11:00:00.000Z');
    const { id, secret } = parseJoinToken(t.token);
    expect(JSON.stringify([...tokens.records.values()])).not.toContain(secret);
    const r = await service.enrol({ tokenId: id, secret, csrPem: 'CSR', natsPublicKey: 'UABC' });
    expect(r).toEqual({ site: 'msk-1', host: 'db', cert: 'CERT', ca: 'CA' });
    expect(authority.issued).toEqual([{ kind: 'agent', site: 'msk-1', host: 'db' }]);
    expect(authority.nats).toEqual(['UABC']);
    await expect(service.enrol({ tokenId: id, secret, csrPem: 'CSR', natsPublicKey: 'UABC' })).rejects.toThrow(/was already used at 2026-12-03T10:00:00.000Z/);
  });

  it('lets exactly one of two simultaneous enrolments with the same token win', async () => {
    const { service, authority } = setup();
    const { id, secret } = parseJoinToken((await service.createToken('msk-1', 'db', 60_000, 'a')).token);
    const results = await Promise.allSettled([1, 2].map(() => service.enrol({ tokenId: id, secret, csrPem: 'CSR', natsPublicKey: 'UABC' })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const failed = results.find((r) => r.status === 'rejected');
    expect(failed?.status === 'rejected' && failed.reason).toBeInstanceOf(PermissionDeniedError);
    expect(authority.issued).toHaveLength(1);
  });

  it('refuses an expired token, a wrong secret and an unknown id; a bad request does not spend the token', async () => {
    const { service, clock } = setup();
    const { id, secret } = parseJoinToken((await service.createToken('msk-1', 'db', 60_000, 'a')).token);
    await expect(service.enrol({ tokenId: id, secret: `${secret}x`, csrPem: 'CSR', natsPublicKey: 'U1' })).rejects.toThrow(`join token ${id} is not valid`);
    await expect(service.enrol({ tokenId: 'nope', secret, csrPem: 'CSR', natsPublicKey: 'U1' })).rejects.toThrow('join token nope is not valid');
    await expect(service.enrol({ tokenId: id, secret, csrPem: 'garbage', natsPublicKey: 'U1' })).rejects.toBeInstanceOf(ValidationError);
    clock.now = new Date('2026-12-03T10:01:00Z');
    await expect(service.enrol({ tokenId: id, secret, csrPem: 'CSR', natsPublicKey: 'U1' })).rejects.toThrow(/expired at 2026-12-03T10:01:00.000Z/);
  });

  it('validates site, host and TTL; revoking tells who must drop the agent, and an agent never issued is not found', async () => {
    const { service, revokedSeen } = setup();
    await expect(service.createToken('msk 1', 'db', undefined, 'a')).rejects.toThrow("site 'msk 1' is not a valid site id");
    await expect(service.createToken('msk-1', 'db', 8 * 86_400_000, 'a')).rejects.toThrow('a join token lives 1 s to 7 days');
    await expect(service.revoke('msk-1', 'db')).rejects.toBeInstanceOf(NotFoundError);
    const { id, secret } = parseJoinToken((await service.createToken('msk-1', 'db', undefined, 'a')).token);
    await service.enrol({ tokenId: id, secret, csrPem: 'CSR', natsPublicKey: 'U1' });
    expect(await service.revoke('msk-1', 'db')).toEqual({ certificates: 1, natsKeys: true });
    expect(revokedSeen).toEqual([{ kind: 'agent', site: 'msk-1', host: 'db' }]);
  });
});
