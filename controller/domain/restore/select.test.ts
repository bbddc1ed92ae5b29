import { describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../../../shared/errors.js';
import { FakeCatalog, manifest } from './fakes.test-support.js';
import { selectSnapshot } from './select.js';
import type { SnapshotSelector } from './types.js';

// Deliberately not in time order: the catalog's order must not matter.
const catalog = new FakeCatalog(
  manifest('msk-1', 'c-0200', '2026-01-02T00:00:00Z'),
  manifest('msk-1', 'c-0100', '2026-01-01T00:00:00Z'),
  manifest('msk-1', 'c-0400', '2026-01-04T00:00:00Z'),
  manifest('msk-1', 'c-0300', '2026-01-03T00:00:00Z'),
  manifest('spb-2', 'c-0500', '2026-01-05T00:00:00Z'),
);

describe('selectSnapshot', () => {
  it.each<{ name: string; selector: SnapshotSelector; want: string }>([
    { name: 'by id', selector: { kind: 'id', id: 'c-0200' }, want: 'c-0200' },
    { name: 'latest', selector: { kind: 'latest' }, want: 'c-0400' },
    { name: 'before, between two', selector: { kind: 'before', time: new Date('2026-01-03T12:00:00Z') }, want: 'c-0300' },
    { name: 'before, strictly (equal time excluded)', selector: { kind: 'before', time: new Date('2026-01-03T00:00:00Z') }, want: 'c-0200' },
    { name: 'before, after all', selector: { kind: 'before', time: new Date('2027-01-01T00:00:00Z') }, want: 'c-0400' },
  ])('selects $name', async ({ selector, want }) => {
    const m = await selectSnapshot(catalog, 'msk-1', selector);
    expect(m.cutId).toBe(want);
    expect(m.site).toBe('msk-1');
  });

  it.each<{ name: string; site: string; selector: SnapshotSelector; cls: typeof NotFoundError | typeof ValidationError; message: string }>([
    {
      name: 'an unknown id',
      site: 'msk-1',
      selector: { kind: 'id', id: 'c-9999' },
      cls: NotFoundError,
      message: "snapshot 'c-9999' not found for site 'msk-1'",
    },
    {
      name: 'nothing before the time',
      site: 'msk-1',
      selector: { kind: 'before', time: new Date('2026-01-01T00:00:00Z') },
      cls: NotFoundError,
      message: "no sealed snapshot of site 'msk-1' was created before 2026-01-01T00:00:00.000Z",
    },
    { name: 'latest of an empty site', site: 'nsk-3', selector: { kind: 'latest' }, cls: NotFoundError, message: "site 'nsk-3' has no sealed snapshot to restore" },
    {
      name: "another site's snapshot",
      site: 'msk-1',
      selector: { kind: 'id', id: 'c-0500' },
      cls: ValidationError,
      message: "snapshot 'c-0500' belongs to site 'spb-2', not 'msk-1'; to restore it into site 'msk-1' use --site spb-2 --to-site msk-1",
    },
    { name: 'an empty id', site: 'msk-1', selector: { kind: 'id', id: '' }, cls: ValidationError, message: 'snapshot id is empty (--snapshot)' },
    { name: 'an invalid time', site: 'msk-1', selector: { kind: 'before', time: new Date('nonsense') }, cls: ValidationError, message: '--before is not a valid time' },
  ])('refuses $name', async ({ site, selector, cls, message }) => {
    const err = await selectSnapshot(catalog, site, selector).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(cls);
    expect((err as Error).message).toBe(message);
  });
});
