import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors.js';
import { HmacManifestSealer } from './manifest-seal.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-seal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('HmacManifestSealer', () => {
  it('makes a 0600 key on first use, and the same key seals alike after a restart', () => {
    const file = path.join(dir, 'sub', 'seal.key');
    const a = HmacManifestSealer.fromKeyFile(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    const bytes = Buffer.from('{"cutId":"c-1"}');
    const seal = a.sign(bytes);
    expect(HmacManifestSealer.fromKeyFile(file).verify(bytes, seal)).toBe(true);
    expect(a.verify(Buffer.from('{"cutId":"c-2"}'), seal)).toBe(false);
    expect(a.verify(bytes, 'zz')).toBe(false);
    expect(HmacManifestSealer.fromKeyFile(path.join(dir, 'other.key')).verify(bytes, seal)).toBe(false);
  });

  it('refuses a key file that holds no 256-bit hex key, naming it', () => {
    const file = path.join(dir, 'bad.key');
    writeFileSync(file, 'not a key');
    expect(() => HmacManifestSealer.fromKeyFile(file)).toThrow(ValidationError);
    expect(() => HmacManifestSealer.fromKeyFile(file)).toThrow(`seal key file ${file} does not hold a 256-bit hex key`);
  });
});
