/**
 * The controller's manifest seal (domain/snapshot/seal.ts): HMAC-SHA256 with a 256-bit key kept in a file
 * of its own (mode 0600), made on first use. Controllers that share a fleet share this file.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ValidationError } from '../../shared/errors.js';
import type { ManifestSealer } from '../domain/snapshot/seal.js';

export class HmacManifestSealer implements ManifestSealer {
  private constructor(private readonly key: Buffer) {}

  /** The sealer of the key in `file`, creating the key when the file does not exist. */
  static fromKeyFile(file: string): HmacManifestSealer {
    if (!existsSync(file)) {
      mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
      chmodSync(tmp, 0o600);
      renameSync(tmp, file);
    }
    const text = readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(text)) throw new ValidationError(`seal key file ${file} does not hold a 256-bit hex key`, { field: 'repositories.sealKeyFile' });
    return new HmacManifestSealer(Buffer.from(text, 'hex'));
  }

  sign(bytes: Buffer): string {
    return createHmac('sha256', this.key).update(bytes).digest('hex');
  }

  verify(bytes: Buffer, seal: string): boolean {
    const want = Buffer.from(this.sign(bytes), 'hex');
    const got = Buffer.from(/^[0-9a-f]{64}$/.test(seal) ? seal : '', 'hex');
    return got.length === want.length && timingSafeEqual(got, want);
  }
}
