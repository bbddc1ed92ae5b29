/**
 * The audit trail's head kept in a file on the controller's host (`audit.headFile`, default next to the
 * repository secrets): one line `SEQ:HASH`, replaced atomically (temp file + rename) and readable by its
 * owner only. It lives outside NATS on purpose: rewriting the FFK_AUDIT stream does not rewrite it.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../../shared/errors.js';
import { formatAnchor, parseAnchor, type AuditAnchor, type AuditHeadStore } from '../domain/access/audit.js';

export class AuditHeadFile implements AuditHeadStore {
  constructor(readonly file: string) {}

  async read(): Promise<AuditAnchor | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const head = parseAnchor(text);
    if (!head) throw new ValidationError(`audit head file ${this.file} does not hold SEQ:HASH (it holds '${text.trim().slice(0, 80)}')`, { field: 'audit.headFile' });
    return head;
  }

  async write(head: AuditAnchor): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const temp = `${this.file}.${process.pid}.tmp`;
    await writeFile(temp, `${formatAnchor(head)}\n`, { mode: 0o600 });
    await rename(temp, this.file);
  }
}
