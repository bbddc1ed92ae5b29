import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { constraintWarnings, NotValidForeignKeys } from './not-valid.js';

async function rewrite(chunks: string[]): Promise<{ out: string; deferred: NotValidForeignKeys['deferred'] }> {
  const t = new NotValidForeignKeys();
  const parts: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    t.on('data', (b: Buffer | string) => parts.push(Buffer.from(b)));
    t.on('end', resolve);
    t.on('error', reject);
  });
  Readable.from(chunks.map((c) => Buffer.from(c))).pipe(t);
  await done;
  return { out: Buffer.concat(parts).toString('utf8'), deferred: t.deferred };
}

const DUMP = [
  'CREATE TABLE public.ffsecurity_dossier (id integer NOT NULL);',
  'COPY public.ffsecurity_dossier (id, name) FROM stdin;',
  "1\tALTER TABLE ONLY x",
  '    ADD CONSTRAINT not_a_statement FOREIGN KEY (a) REFERENCES b(c);',
  '\\.',
  '',
  'ALTER TABLE ONLY public.ffsecurity_dossier',
  '    ADD CONSTRAINT ffsecurity_dossier_pkey PRIMARY KEY (id);',
  '',
  'ALTER TABLE ONLY public.ffsecurity_dossier_watch_lists',
  '    ADD CONSTRAINT ffsecurity_dossier_watch_lists_dossier_id_fkey FOREIGN KEY (dossier_id) REFERENCES public.ffsecurity_dossier(id) DEFERRABLE INITIALLY DEFERRED;',
  '',
  'ALTER TABLE ONLY public."Odd Table" ADD CONSTRAINT "odd ""fk""" FOREIGN KEY (x) REFERENCES public.y(id);',
  'ALTER TABLE ONLY public.z',
  '    ADD CONSTRAINT z_fk FOREIGN KEY (a) REFERENCES public.y(id) NOT VALID;',
  '',
].join('\n');

describe('NotValidForeignKeys', () => {
  it('adds every foreign key NOT VALID and records it; COPY data, other constraints and NOT VALID ones stay as they are', async () => {
    const { out, deferred } = await rewrite([DUMP]);
    expect(deferred).toEqual([
      { table: 'public.ffsecurity_dossier_watch_lists', name: 'ffsecurity_dossier_watch_lists_dossier_id_fkey' },
      { table: 'public."Odd Table"', name: '"odd ""fk"""' },
    ]);
    expect(out).toBe(
      DUMP.replace('DEFERRABLE INITIALLY DEFERRED;', 'DEFERRABLE INITIALLY DEFERRED NOT VALID;').replace(
        'REFERENCES public.y(id);',
        'REFERENCES public.y(id) NOT VALID;',
      ),
    );
    expect(out).toContain('    ADD CONSTRAINT not_a_statement FOREIGN KEY (a) REFERENCES b(c);\n\\.'); // data, untouched
  });

  it('gives the same result whatever the chunking, multi-byte characters split included', async () => {
    const text = `-- Имя: 名前\n${DUMP}`;
    const bytes = Buffer.from(text);
    const chunks: string[] = [];
    const whole = await rewrite([text]);
    for (const size of [1, 7, 64]) {
      const parts: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
      const t = new NotValidForeignKeys();
      const out: Buffer[] = [];
      await new Promise<void>((resolve) => {
        t.on('data', (b: Buffer) => out.push(Buffer.from(b)));
        t.on('end', resolve);
        for (const p of parts) t.write(p);
        t.end();
      });
      chunks.push(Buffer.concat(out).toString('utf8'));
      expect(t.deferred).toEqual(whole.deferred);
    }
    expect(new Set(chunks)).toEqual(new Set([whole.out]));
  });

  it('says which constraints stayed NOT VALID', () => {
    expect(
      constraintWarnings([
        { table: 'public.a', name: 'a_fk', valid: true },
        { table: 'public.b', name: 'b_fk', valid: false, error: 'insert or update on table "b" violates foreign key constraint "b_fk"' },
      ]),
    ).toEqual(['constraint b_fk on public.b is violated by the restored rows and stays NOT VALID (insert or update on table "b" violates foreign key constraint "b_fk")']);
  });
});
