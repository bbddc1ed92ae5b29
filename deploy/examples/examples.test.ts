/** The shipped example configs must stay valid as the schemas change. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../shared/config/agent.js';
import { loadControllerConfig } from '../../shared/config/controller.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('example configs', () => {
  it('agent.yaml validates and describes a whole FindFace host', () => {
    const cfg = loadAgentConfig(path.join(here, 'agent.yaml'), {});
    expect(cfg.components.map((c) => `${c.kind}:${c.name}`)).toEqual([
      'postgres:ffsecurity',
      'tarantool:shard-001',
      'tarantool:shard-002',
      'uploads:uploads',
      'sf-api:sf-api',
    ]);
  });

  it('controller.yaml validates', () => {
    expect(loadControllerConfig(path.join(here, 'controller.yaml'), {}).grpc.listen).toBe('127.0.0.1:7700');
  });
});
