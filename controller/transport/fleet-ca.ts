/**
 * The fleet CA directory on the controller host (`ca.dir`, made by `ffkeeper ca init`) as the enrolment
 * service uses it: certificates for CSRs (shared/security/pki.ts, loaded on first use), NATS keys and
 * revocation (shared/security/nats-users.ts, revocation.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ValidationError } from '../../shared/errors.js';
import type { PeerIdentity } from '../../shared/security/identity.js';
import { certificateSha256 } from '../../shared/security/join-token.js';
import { addNatsUser, isNatsUserPublicKey, revokeNatsCredentials } from '../../shared/security/nats-users.js';
import { revokeCertificates } from '../../shared/security/revocation.js';
import type { CertificateAuthority } from '../domain/enrolment.js';

export class FsCertificateAuthority implements CertificateAuthority {
  private readonly fingerprint: string;

  constructor(private readonly dir: string) {
    for (const f of ['ca.crt', 'ca.key']) {
      if (!existsSync(path.join(dir, f))) throw new ValidationError(`ca.dir ${dir} holds no ${f}: it must be the fleet CA directory (ffkeeper ca init)`, { field: 'ca.dir' });
    }
    this.fingerprint = certificateSha256(readFileSync(path.join(dir, 'ca.crt'), 'utf8'));
  }

  caSha256(): string {
    return this.fingerprint;
  }

  async check(csrPem: string, natsPublicKey: string): Promise<void> {
    if (!isNatsUserPublicKey(natsPublicKey)) throw new ValidationError(`'${natsPublicKey.slice(0, 60)}' is not a NATS user public key (U…)`, { field: 'natsPublicKey' });
    const { checkCsr } = await import('../../shared/security/pki.js');
    await checkCsr(csrPem);
  }

  async issue(identity: PeerIdentity, csrPem: string): Promise<{ cert: string; ca: string }> {
    const { issueForCsr } = await import('../../shared/security/pki.js');
    return issueForCsr(this.dir, identity, csrPem);
  }

  addNatsKey(identity: PeerIdentity, publicKey: string): Promise<void> {
    return addNatsUser(this.dir, identity, publicKey);
  }

  async revoke(identity: PeerIdentity): Promise<{ certificates: number; natsKeys: boolean }> {
    const certificates = revokeCertificates(this.dir, identity);
    const natsKeys = await revokeNatsCredentials(this.dir, identity);
    return { certificates, natsKeys };
  }
}
