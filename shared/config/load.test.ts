import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { loadAgentConfig } from './agent.js';
import { loadControllerConfig } from './controller.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('agent config', () => {
  it('fills FindFace defaults and freezes the result', () => {
    const cfg = loadAgentConfig(file('a.yaml', 'site: msk-1\nhost: db\ninsecure: true\ncomponents:\n  - kind: postgres\n  - kind: uploads\n'), {});
    expect(cfg.grpc.listen).toBe('0.0.0.0:7701');
    expect(cfg.nats.servers).toEqual(['nats://127.0.0.1:4222']);
    const [pgc, up] = cfg.components;
    expect(pgc).toMatchObject({ kind: 'postgres', database: 'ffsecurity', port: 5432, owner: 'ntech', pgbouncer: { port: 6432 } });
    expect(up).toMatchObject({ kind: 'uploads', paths: ['/var/lib/findface-security/uploads', '/var/lib/ffupload'] });
    expect(Object.isFrozen(cfg.components)).toBe(true);
  });

  it('applies environment overrides, JSON-typed, over the file', () => {
    const cfg = loadAgentConfig(file('b.yaml', 'site: msk-1\nhost: db\ntls: {ca: /etc/ffkeeper/tls/ca.crt, cert: /etc/ffkeeper/tls/agent.crt, key: /etc/ffkeeper/tls/agent.key}\nnats: {seedFile: /etc/ffkeeper/tls/agent.nk}\n'), {
      FFK_AGENT_HOST: 'db-2',
      FFK_AGENT_NATS__SERVERS: '["nats://10.0.0.1:4222"]',
      FFK_AGENT_PRESENCE__HEARTBEAT_SECONDS: '2',
    });
    expect(cfg.host).toBe('db-2');
    expect(cfg.nats.servers).toEqual(['nats://10.0.0.1:4222']);
    expect(cfg.presence.heartbeatSeconds).toBe(2);
  });

  it.each([
    { text: 'host: db\n', env: {}, want: 'site: ' },
    { text: 'site: "msk.1"\nhost: db\n', env: {}, want: 'site: must be 1-63 letters' },
    { text: 'site: a\nhost: b\nbogus: 1\n', env: {}, want: 'Unrecognized key: "bogus"' },
    { text: 'site: a\nhost: b\npresence: { heartbeatSeconds: 5, ttlSeconds: 5 }\n', env: {}, want: 'presence.ttlSeconds: ttlSeconds must be greater' },
    { text: 'site: a\nhost: b\n', env: { FFK_AGENT_GRPC__LISTEN: 'nowhere' }, want: 'grpc.listen: must be "host:port" (from environment variable FFK_AGENT_GRPC__LISTEN)' },
    { text: 'site: [\n', env: {}, want: 'not valid YAML/JSON' },
    { text: '- a\n- b\n', env: {}, want: 'top level must be a mapping' },
  ])('rejects $want naming file and field', ({ text, env, want }) => {
    const p = file(`bad-${Math.random()}.yaml`, text);
    let caught: unknown;
    try {
      loadAgentConfig(p, env);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).message).toContain(`invalid configuration in ${p}: `);
    expect((caught as ConfigError).message).toContain(want);
  });

  it('requires tls unless insecure: true, and refuses both', () => {
    expect(() => loadAgentConfig(file('n.yaml', 'site: a\nhost: b\n'), {})).toThrow('tls: required: {ca, cert, key} files of the fleet CA');
    expect(() => loadAgentConfig(file('m.yaml', 'site: a\nhost: b\ninsecure: true\ntls: {ca: a, cert: b, key: c}\n'), {})).toThrow('insecure: insecure: true and tls exclude each other');
    expect(() => loadControllerConfig(undefined, {})).toThrow('tls: required');
    expect(() => loadAgentConfig(file('s.yaml', 'site: a\nhost: b\ntls: {ca: a, cert: b, key: c}\n'), {})).toThrow("nats.seedFile: required: this process's NATS nkey seed");
  });

  it('rejects two components with the same kind and name', () => {
    const p = file('dup.yaml', 'site: a\nhost: b\ncomponents: [{kind: uploads}, {kind: uploads}]\n');
    expect(() => loadAgentConfig(p, {})).toThrow('components[1].name: duplicate component uploads:uploads');
  });
});

describe('controller config', () => {
  it('works from the environment alone', () => {
    const cfg = loadControllerConfig(undefined, { FFK_CONTROLLER_GRPC__LISTEN: '127.0.0.1:9000', FFK_CONTROLLER_INSECURE: 'true' });
    expect(cfg.grpc.listen).toBe('127.0.0.1:9000');
    expect(cfg.id).toBe('controller-1');
  });

  it('names the environment as the source when there is no file', () => {
    expect(() => loadControllerConfig(undefined, { FFK_CONTROLLER_ID: 'bad id' })).toThrow(
      'invalid configuration in environment (FFK_CONTROLLER_*): id: must be 1-63',
    );
  });

  it.each([
    [{}, '127.0.0.1:9464'],
    [{ FFK_CONTROLLER_METRICS__LISTEN: '' }, ''],
    [{ FFK_CONTROLLER_METRICS__LISTEN: '0.0.0.0:0' }, '0.0.0.0:0'],
  ])('metrics.listen from %j is %j', (env, listen) => {
    expect(loadControllerConfig(undefined, { ...env, FFK_CONTROLLER_INSECURE: 'true' }).metrics.listen).toBe(listen);
  });

  it('rejects a metrics address that is not host:port, naming the field', () => {
    expect(() => loadControllerConfig(undefined, { FFK_CONTROLLER_METRICS__LISTEN: '9464' })).toThrow('metrics.listen');
  });

  it('serves the web console only over HTTPS: off by default, refused without a certificate', () => {
    expect(loadControllerConfig(undefined, { FFK_CONTROLLER_INSECURE: 'true' }).console).toBeUndefined();
    expect(() => loadControllerConfig(file('c.yaml', 'insecure: true\nconsole: {listen: "127.0.0.1:8443"}\n'), {})).toThrow('console: needs HTTPS: tls (the controller certificate) or console.cert and console.key');
    expect(() => loadControllerConfig(file('k.yaml', 'insecure: true\nconsole: {listen: "127.0.0.1:8443", cert: c.pem}\n'), {})).toThrow('console: cert and key go together');
    expect(loadControllerConfig(file('ok.yaml', 'insecure: true\nconsole: {listen: "127.0.0.1:8443", cert: c.pem, key: k.pem}\n'), {}).console).toEqual({ listen: '127.0.0.1:8443', cert: 'c.pem', key: 'k.pem' });
  });
});
