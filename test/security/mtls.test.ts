/**
 * Issue 16, first slice: mTLS on every gRPC connection, on real processes (a controller, an agent, a
 * nats-server). A client without a certificate, with one from another CA, with an expired one, or
 * plaintext is refused by both the controller and the agent (each error printed); a certificate of the
 * wrong kind is denied with PERMISSION_DENIED; an agent whose certificate names another site/host is
 * refused by the controller's client; a key file readable by others, or a certificate of another
 * identity, stops a process at start naming the file; a renewed certificate is served without a restart.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import { GrpcAgentClient } from '../../controller/transport/grpc-agent-client.js';
import { PermissionDeniedError } from '../../shared/errors.js';
import { EXIT_CODES } from '../../shared/exit-codes.js';
import { freePort } from '../../shared/net.js';
import { createCa, writePem, type TlsFiles } from '../../shared/security/pki.js';
import type { GrpcSecurity } from '../../shared/transport/grpc-security.js';
import { startNats, type TestNats } from '../harness/nats.js';
import { agentTls, controllerSecurity, controllerTls, issueTestCertificate, operatorSecurity } from '../harness/pki.js';
import { BIN, failure, runCli, runProcess, tempDir, waitFor, type TestProcess } from '../harness/processes.js';

const DAY = 86_400_000;

describe('mTLS on the controller and the agents', () => {
  const tmp = tempDir('ffk-mtls-');
  let nats: TestNats;
  let controller: TestProcess;
  let agent: TestProcess;
  let controllerAddress: string;
  let agentAddress: string;
  let agentFiles: TlsFiles;
  /** A CA the fleet does not trust, with an operator and a controller certificate. */
  let foreign: { operator: GrpcSecurity; controller: GrpcSecurity };
  let expired: { operator: GrpcSecurity; controller: GrpcSecurity };

  beforeAll(async () => {
    nats = await startNats();
    controllerAddress = `127.0.0.1:${await freePort()}`;
    const controllerConfig = tmp.write('controller.yaml', {
      grpc: { listen: controllerAddress },
      nats: nats.controller(),
      tls: controllerTls(),
      metrics: { listen: '' },
      repositories: { root: path.join(tmp.dir, 'repos'), cacheDir: path.join(tmp.dir, 'cache'), secretsFile: path.join(tmp.dir, 'secrets.json') },
    });
    controller = runProcess(BIN.controller, ['--config', controllerConfig]);
    agentFiles = await agentTls('msk-1', 'db');
    const uploads = path.join(tmp.dir, 'uploads');
    mkdirSync(uploads);
    const agentConfig = tmp.write('agent.yaml', {
      site: 'msk-1', host: 'db', grpc: { listen: '127.0.0.1:0' }, metrics: { listen: '' }, tls: agentFiles, nats: await nats.client(agentFiles),
      cacheDir: path.join(tmp.dir, 'agent-cache'), presence: { heartbeatSeconds: 1, ttlSeconds: 3 }, components: [{ kind: 'uploads', paths: [uploads] }],
    });
    agent = runProcess(BIN.agent, ['--config', agentConfig]);
    agentAddress = (await waitFor(async () => agent.logs().match(/"grpcAddress":"([^"]+)"/)?.[1], 60_000)).value;

    const foreignDir = mkdtempSync(path.join(os.tmpdir(), 'ffk-foreign-ca-'));
    writePem(foreignDir, 'ca', await createCa({ name: 'some other CA' }));
    const inForeign = async (identity: Parameters<typeof issueTestCertificate>[0]): Promise<GrpcSecurity> => ({ tls: await issueTestCertificate(identity, { caDir: foreignDir }) });
    foreign = { operator: await inForeign({ kind: 'operator', name: 'mallory' }), controller: await inForeign({ kind: 'controller', id: 'controller-1' }) };
    const past = { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) };
    expired = {
      operator: { tls: await issueTestCertificate({ kind: 'operator', name: 'old' }, past) },
      controller: { tls: await issueTestCertificate({ kind: 'controller', id: 'controller-1' }, past) },
    };
    // Up: the operator lists the agent online.
    await waitFor(async () => {
      const api = new GrpcControllerApi(controllerAddress, 5000, operatorSecurity());
      try {
        return (await api.listAgents()).some((a) => a.status === 'online') ? true : undefined;
      } catch {
        return undefined;
      } finally {
        api.close();
      }
    }, 60_000, 500);
  }, 120_000);

  afterAll(async () => {
    await agent?.kill();
    await controller?.kill();
    await nats?.stop();
    tmp.cleanup();
  });

  const asOperator = async (security: GrpcSecurity, what: string): Promise<Error> => {
    const api = new GrpcControllerApi(controllerAddress, 5000, security);
    try {
      return await failure(`controller, ${what}`, () => api.listAgents());
    } finally {
      api.close();
    }
  };
  const asController = async (security: GrpcSecurity, what: string): Promise<Error> => {
    const client = new GrpcAgentClient({ security });
    try {
      return await failure(`agent, ${what}`, () => client.describe(agentAddress, { timeoutMs: 5000 }));
    } finally {
      client.close();
    }
  };

  it('refuses a plaintext client, one without a certificate, one from another CA and an expired one', async () => {
    for (const [what, security] of [['plaintext client', { insecure: true }], ['certificate of another CA', foreign.operator], ['expired certificate', expired.operator]] as const) {
      expect((await asOperator(security, what)).message).toMatch(/unavailable|handshake|certificate|closed|ECONNRESET/i);
    }
    for (const [what, security] of [['plaintext client', { insecure: true }], ['certificate of another CA', foreign.controller], ['expired certificate', expired.controller]] as const) {
      expect((await asController(security, what)).message).toMatch(/unavailable|handshake|certificate|closed|ECONNRESET/i);
    }
    // TLS without a client certificate: the handshake itself is refused.
    for (const [what, port] of [['controller', controllerAddress], ['agent', agentAddress]] as const) {
      const [host, p] = [port.slice(0, port.lastIndexOf(':')), Number(port.slice(port.lastIndexOf(':') + 1))];
      const err = await new Promise<Error>((resolve) => {
        const socket = tls.connect({ host, port: p, ca: [], rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: 'ffkeeper' });
        socket.on('error', resolve);
        socket.on('secureConnect', () => socket.once('data', () => undefined).once('close', () => resolve(new Error('closed by the server'))));
        setTimeout(() => resolve(new Error('no refusal within 10 s')), 10_000);
      });
      console.log(`${what}, no client certificate: ${err.message}`);
      expect(err.message).not.toBe('no refusal within 10 s');
    }
    // The same operator certificate is accepted: the refusals were about the certificates.
    const ok = new GrpcControllerApi(controllerAddress, 5000, operatorSecurity());
    expect((await ok.listAgents()).length).toBe(1);
    ok.close();
  });

  it('denies a certificate of the wrong kind with PERMISSION_DENIED, naming it', async () => {
    const agentAsOperator = await asOperator({ tls: agentFiles }, 'agent certificate calling the controller');
    expect(agentAsOperator).toBeInstanceOf(PermissionDeniedError);
    expect(agentAsOperator.message).toContain('controller: listAgents refused: agent msk-1/db is not an operator');
    const operatorAsController = await asController(operatorSecurity(), 'operator certificate calling the agent');
    expect(operatorAsController).toBeInstanceOf(PermissionDeniedError);
    expect(operatorAsController.message).toContain('operator admin may not call it (only a controller may)');
  });

  it('refuses an agent whose certificate names another site/host than the one expected at its address', async () => {
    for (const other of [{ site: 'msk-1', host: 'files' }, { site: 'spb-1', host: 'db' }]) {
      const client = new GrpcAgentClient({ security: controllerSecurity(), expectedAt: () => ({ kind: 'agent', ...other }) });
      const err = await failure(`agent msk-1/db taken for ${other.site}/${other.host}`, () => client.describe(agentAddress, { timeoutMs: 5000 }));
      client.close();
      expect(err.message).toContain(`certificate is for agent msk-1/db, not agent ${other.site}/${other.host}`);
    }
  });

  it('the CLI: no operator certificate is a one-line error naming the directory; an agent certificate is denied with its exit code', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'ffk-no-cert-'));
    const none = await runCli(['agents', 'list', '--controller', controllerAddress], { FFKEEPER_TLS_DIR: empty });
    expect(none.code).toBe(EXIT_CODES.VALIDATION);
    expect(none.stderr).toContain(`no operator certificate in ${empty}`);
    const insecure = await runCli(['agents', 'list', '--controller', controllerAddress, '--insecure']);
    console.log(`CLI --insecure against the mTLS controller: exit ${insecure.code}: ${insecure.stderr.trim()}`);
    expect(insecure.code).toBe(EXIT_CODES.UNAVAILABLE);
    expect(insecure.stderr).toContain('WARNING');
    // An agent's certificate copied as an operator's: refused by the CLI before any call.
    const stolen = mkdtempSync(path.join(os.tmpdir(), 'ffk-stolen-'));
    copyFileSync(agentFiles.ca, path.join(stolen, 'ca.crt'));
    copyFileSync(agentFiles.cert, path.join(stolen, 'operator.crt'));
    copyFileSync(agentFiles.key, path.join(stolen, 'operator.key'));
    const r = await runCli(['agents', 'list', '--controller', controllerAddress], { FFKEEPER_TLS_DIR: stolen });
    expect(r.code).toBe(EXIT_CODES.VALIDATION);
    expect(r.stderr).toContain('is the certificate of agent msk-1/db, not of an operator');
  });

  it('stops an agent at start when its key file is readable by others, or its certificate is for another host', async () => {
    const loose = await agentTls('msk-1', 'tnt');
    chmodSync(loose.key, 0o644);
    const base = { grpc: { listen: '127.0.0.1:0' }, metrics: { listen: '' }, cacheDir: path.join(tmp.dir, 'c2') };
    const a = runProcess(BIN.agent, ['--config', tmp.write('loose.yaml', { ...base, site: 'msk-1', host: 'tnt', tls: loose, nats: await nats.client(loose) })]);
    expect(await new Promise((resolve) => a.child.once('exit', resolve))).toBe(EXIT_CODES.VALIDATION);
    expect(a.logs()).toContain(`key file ${loose.key} has mode 0644`);
    const b = runProcess(BIN.agent, ['--config', tmp.write('other.yaml', { ...base, site: 'msk-1', host: 'files', tls: agentFiles, nats: await nats.client(agentFiles) })]);
    expect(await new Promise((resolve) => b.child.once('exit', resolve))).toBe(EXIT_CODES.VALIDATION);
    expect(b.logs()).toContain('is the certificate of agent msk-1/db, but this is agent msk-1/files');
  });

  it('serves a renewed certificate without a restart', async () => {
    const serialOf = (): Promise<string> => new Promise((resolve, reject) => {
      const [host, port] = [agentAddress.slice(0, agentAddress.lastIndexOf(':')), Number(agentAddress.slice(agentAddress.lastIndexOf(':') + 1))];
      const c = controllerTls();
      const socket = tls.connect({ host, port, ca: readFileSync(c.ca), cert: readFileSync(c.cert), key: readFileSync(c.key), servername: 'ffkeeper', ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }, () => {
        const serial = socket.getPeerCertificate().serialNumber;
        socket.end();
        resolve(serial);
      });
      socket.on('error', reject);
    });
    const before = await serialOf();
    const renewed = await agentTls('msk-1', 'db');
    // Replace the files the running agent was started with (as a renewal job would).
    copyFileSync(renewed.key, agentFiles.key);
    copyFileSync(renewed.cert, agentFiles.cert);
    const { value: after, elapsedMs } = await waitFor(async () => {
      const s = await serialOf();
      return s !== before ? s : undefined;
    }, 30_000, 500);
    console.log(`renewed certificate served after ${elapsedMs} ms (serial ${before} → ${after}), no restart (pid ${agent.child.pid})`);
    expect(agent.child.exitCode).toBeNull();
    const client = new GrpcAgentClient({ security: controllerSecurity() });
    expect((await client.describe(agentAddress, { timeoutMs: 5000 })).host).toBe('db');
    client.close();
  });
});
