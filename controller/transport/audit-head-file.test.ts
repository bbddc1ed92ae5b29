import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditHeadFile } from './audit-head-file.js';

describe('AuditHeadFile', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-audit-head-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps one SEQ:HASH, replaced whole, readable by its owner only; none kept yet reads as undefined', async () => {
    const file = new AuditHeadFile(path.join(dir, 'sub', 'audit-head'));
    expect(await file.read()).toBeUndefined();
    await file.write({ seq: 7, hash: 'a'.repeat(64) });
    await file.write({ seq: 8, hash: 'b'.repeat(64) });
    expect(await file.read()).toEqual({ seq: 8, hash: 'b'.repeat(64) });
    expect(statSync(file.file).mode & 0o777).toBe(0o600);
  });

  it('a file that does not hold SEQ:HASH is an error naming it', async () => {
    const bad = path.join(dir, 'bad-head');
    writeFileSync(bad, 'hello\n');
    await expect(new AuditHeadFile(bad).read()).rejects.toThrow(`audit head file ${bad} does not hold SEQ:HASH (it holds 'hello')`);
  });
});
