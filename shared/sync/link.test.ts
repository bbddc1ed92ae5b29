import { describe, expect, it } from 'vitest';
import { LINK_ID_RANGE, linkId, parseEnd, replicaId, replicaPath } from './link.js';

describe('sync link ids', () => {
  it.each([
    ['msk-1:1', { site: 'msk-1', list: 1 }],
    ['spb_2:42', { site: 'spb_2', list: 42 }],
    ['msk-1', undefined],
    ['msk-1:0', undefined],
    ['msk.1:1', undefined],
    [':1', undefined],
  ])('parses %s', (text, end) => {
    expect(parseEnd(text)).toEqual(end);
  });

  it('names a link by both ends', () => {
    expect(linkId({ site: 'msk-1', list: 1 }, { site: 'spb-1', list: 2 })).toBe('msk-1.1.spb-1.2');
  });

  it("puts each link's rows in its own id range, above any site's own ids", () => {
    expect(replicaId(1, 5)).toBe(LINK_ID_RANGE + 5);
    expect(replicaId(3, 5)).toBe(3 * LINK_ID_RANGE + 5);
    expect(replicaId(1023, LINK_ID_RANGE - 1)).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
    expect(() => replicaId(1, LINK_ID_RANGE)).toThrow(/outside the replicable range/);
    expect(() => replicaId(1, 0)).toThrow(RangeError);
  });

  it("keeps a master's files apart under the slave's upload roots", () => {
    expect(replicaPath('msk-1', 'dossier_faces/000001/1234.jpg')).toBe('ffk-sync/msk-1/dossier_faces/000001/1234.jpg');
  });
});
