/**
 * The parts of a shard's snapshot import that decide where a record goes: its id read from the line (any
 * size, exactly; the canonical form fast, any JSON object otherwise) and the export's gallery files.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../shared/errors.js';
import { galleryFiles, recordId } from './import.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('shard import: record ids and gallery files', () => {
  it('reads the id of a line exactly, beyond 2^53 too', () => {
    expect(recordId(Buffer.from('{"id":42,"feat":"AAAA","norm":"n","meta":{}}'), 'f.json', 1)).toBe(42n);
    expect(recordId(Buffer.from('{"id":18446744073709551615,"feat":""}'), 'f.json', 1)).toBe(18446744073709551615n);
    expect(recordId(Buffer.from('{"meta":{"id":7},"id":9}'), 'f.json', 1)).toBe(9n);
    expect(recordId(Buffer.from('{"id":"12"}'), 'f.json', 1)).toBe(12n);
  });

  it('names the file and line of a line that is not a record with an unsigned id', () => {
    expect(() => recordId(Buffer.from('not json'), '/x/ffsec_face_objects.json', 3)).toThrow(ValidationError);
    expect(() => recordId(Buffer.from('not json'), '/x/ffsec_face_objects.json', 3)).toThrow('/x/ffsec_face_objects.json line 3: not a JSON record');
    expect(() => recordId(Buffer.from('{"id":-1}'), '/x/g.json', 8)).toThrow('/x/g.json line 8: the record has no unsigned integer id');
    expect(() => recordId(Buffer.from('{"id":1.5}'), '/x/g.json', 8)).toThrow(/line 8/);
  });

  it("lists an export's gallery files, not ffkeeper's manifest nor hidden files", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-galleries-'));
    dirs.push(dir);
    for (const f of ['ffsec_face_objects.json', 'ffsec_face_events.json', 'ffkeeper-manifest.json', '.x.json', 'ffsecurity_postgres_backup.sql']) writeFileSync(path.join(dir, f), '');
    expect([...(await galleryFiles(dir)).keys()]).toEqual(['ffsec_face_events', 'ffsec_face_objects']);
    await expect(galleryFiles(path.join(dir, 'missing'))).rejects.toThrow(/export directory .*missing cannot be read/);
  });
});
