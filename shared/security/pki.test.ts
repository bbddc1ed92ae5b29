import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NotFoundError, PermissionDeniedError, ValidationError } from '../errors.js';
import { expectPeer, onlyKind } from '../transport/grpc-security.js';
import { formatIdentity, identityOfSubjectAltName, identityUri, parseIdentityUri, type PeerIdentity } from './identity.js';
import { createCa, issueCertificate, writePem } from './pki.js';
import { checkTlsFiles, identityOfCertificate, readKeyFile } from './tls-files.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-pki-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('identity URIs', () => {
  const ids: PeerIdentity[] = [{ kind: 'agent', site: 'msk-1', host: 'db' }, { kind: 'controller', id: 'controller-1' }, { kind: 'operator', name: 'alice@ops.example' }];
  it.each(ids)('round-trips %o', (id) => {
    expect(parseIdentityUri(identityUri(id))).toEqual(id);
    expect(identityOfSubjectAltName(`IP Address:127.0.0.1, URI:${identityUri(id)}`)).toEqual(id);
  });
  it.each(['ffkeeper://agent/msk-1', 'ffkeeper://agent/msk 1/db', 'ffkeeper://admin/x', 'https://agent/msk-1/db', 'ffkeeper://operator/', 'ffkeeper://agent/a/b/c'])('rejects %s', (uri) => {
    expect(parseIdentityUri(uri)).toBeUndefined();
  });
  it('formats for messages', () => {
    expect(ids.map(formatIdentity)).toEqual(['agent msk-1/db', 'controller controller-1', 'operator alice@ops.example']);
  });
});

describe('certificates', () => {
  it('issues a certificate that checks against its CA and names its identity', async () => {
    const ca = await createCa();
    const caFiles = writePem(dir, 'ca', ca);
    const leaf = writePem(dir, 'agent', await issueCertificate(ca, { identity: { kind: 'agent', site: 'msk-1', host: 'db' } }));
    expect(checkTlsFiles({ ca: caFiles.cert, ...leaf })).toEqual({ kind: 'agent', site: 'msk-1', host: 'db' });
    expect(identityOfCertificate(await issueCertificate(ca, { identity: { kind: 'operator', name: 'bob' } }).then((p) => p.cert))).toEqual({ kind: 'operator', name: 'bob' });
  });

  it('refuses a certificate of another CA, an expired one, a key readable by others, a missing file', async () => {
    const ca = await createCa();
    const other = await createCa({ name: 'other' });
    const caFiles = writePem(path.join(dir, 'a'), 'ca', ca);
    const foreign = writePem(path.join(dir, 'b'), 'agent', await issueCertificate(other, { identity: { kind: 'agent', site: 's', host: 'h' } }));
    expect(() => checkTlsFiles({ ca: caFiles.cert, ...foreign })).toThrow(/is not signed by the CA/);
    const old = writePem(path.join(dir, 'c'), 'agent', await issueCertificate(ca, { identity: { kind: 'agent', site: 's', host: 'h' }, notBefore: new Date(Date.now() - 5e9), notAfter: new Date(Date.now() - 1e9) }));
    expect(() => checkTlsFiles({ ca: caFiles.cert, ...old })).toThrow(/expired on/);
    const loose = writePem(path.join(dir, 'd'), 'agent', await issueCertificate(ca, { identity: { kind: 'agent', site: 's', host: 'h' } }));
    chmodSync(loose.key, 0o640);
    expect(() => readKeyFile(loose.key)).toThrow(ValidationError);
    expect(() => checkTlsFiles({ ca: caFiles.cert, ...loose })).toThrow(`key file ${loose.key} has mode 0640`);
    expect(() => checkTlsFiles({ ca: path.join(dir, 'none.crt'), ...loose })).toThrow(NotFoundError);
  });
});

describe('authorization', () => {
  const agent: PeerIdentity = { kind: 'agent', site: 'msk-1', host: 'db' };
  it('lets only the named kind call, naming the caller when not', () => {
    const onlyController = onlyKind('controller', 'agent');
    expect(() => onlyController({ kind: 'controller', id: 'c1' }, 'freeze')).not.toThrow();
    expect(() => onlyController(agent, 'freeze')).toThrow(new PermissionDeniedError('agent: freeze refused: agent msk-1/db may not call it (only a controller may)'));
    expect(() => onlyController(undefined, 'freeze')).toThrow(/carries no ffkeeper identity/);
  });
  it('accepts exactly the expected server identity', () => {
    const check = expectPeer(agent);
    expect(check(agent)).toBeUndefined();
    expect(check({ kind: 'agent', site: 'msk-1', host: 'files' })).toBe("the server's certificate is for agent msk-1/files, not agent msk-1/db");
    expect(check(undefined)).toMatch(/carries no ffkeeper identity/);
  });
});
