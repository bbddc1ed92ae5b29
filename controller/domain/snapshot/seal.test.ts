import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../../shared/manifest.js';
import { FUTURE_SKEW_MS, manifestProblem, type ManifestSealer } from './seal.js';

const sealer: ManifestSealer = { sign: (b) => `sig:${b.length}`, verify: (b, s) => s === `sig:${b.length}` };
const now = new Date('2026-12-04T10:00:00Z');
const manifest = (createdAt: Date, site = 'msk-1'): Manifest => ({ site, cutId: 'c-1', createdAt } as unknown as Manifest);
const bytes = Buffer.from('{"manifest":1}');
const o = { sealer, site: 'msk-1', now, acceptUnsealed: false };

describe('manifestProblem', () => {
  it('takes a manifest the controller sealed, dated now or in the past', () => {
    expect(manifestProblem({ bytes, seal: sealer.sign(bytes), manifest: manifest(now) }, o)).toBeUndefined();
    expect(manifestProblem({ bytes, seal: sealer.sign(bytes), manifest: manifest(new Date(now.getTime() + FUTURE_SKEW_MS)) }, o)).toBeUndefined();
  });

  it('leaves out unsealed manifests where agents may append, and any whose seal does not match', () => {
    expect(manifestProblem({ bytes, seal: undefined, manifest: manifest(now) }, o)).toMatch(/^not sealed by the controller/);
    expect(manifestProblem({ bytes, seal: undefined, manifest: manifest(now) }, { ...o, acceptUnsealed: true })).toBeUndefined();
    expect(manifestProblem({ bytes, seal: 'sig:1', manifest: manifest(now) }, { ...o, acceptUnsealed: true })).toMatch(/^its seal does not match/);
  });

  it('leaves out a sealed manifest dated beyond the clock skew, of another site, or unreadable', () => {
    const later = new Date(now.getTime() + FUTURE_SKEW_MS + 1);
    expect(manifestProblem({ bytes, seal: sealer.sign(bytes), manifest: manifest(later) }, o)).toBe(`dated ${later.toISOString()}, in the future`);
    expect(manifestProblem({ bytes, seal: sealer.sign(bytes), manifest: manifest(now, 'spb-1') }, o)).toBe("a manifest of site 'spb-1', not 'msk-1'");
    expect(manifestProblem({ bytes, seal: sealer.sign(bytes), manifest: undefined, decodeError: 'bad JSON' }, o)).toBe('not a manifest: bad JSON');
  });
});
