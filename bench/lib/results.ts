/**
 * bench/RESULTS.md: one section per benchmark case of issue 7, each between its own markers, so a case
 * rewrites only its section and leaves the others (and any text outside the markers) untouched.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '../../shared/errors.js';

/** The results file `npm run bench` writes. */
export const RESULTS_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'RESULTS.md');

/** What a new results file starts with. */
export const RESULTS_HEADER = [
  '# ffkeeper benchmarks',
  '',
  'Written by `npm run bench` (`bench/run.sh`); `npm run bench -- --quick` runs a small version and does not',
  'write here. One section per case of issue 7, each between its own `bench:<case>` markers: a run rewrites',
  'only the sections of the cases it ran. Every section names its machine, versions and date.',
  '',
].join('\n');

/** One case's section: `id` names its markers, `markdown` is the whole section (with its `##` title). */
export interface ResultsSection {
  id: string;
  markdown: string;
}

function markers(id: string): { begin: string; end: string } {
  if (!/^[a-z0-9-]+$/.test(id)) throw new ValidationError(`results section id '${id}' must be lower-case letters, digits and '-'`, { field: 'id' });
  return { begin: `<!-- bench:${id}:begin -->`, end: `<!-- bench:${id}:end -->` };
}

/** `doc` with the section replaced in place, or appended when it is not there yet. */
export function replaceSection(doc: string, section: ResultsSection): string {
  const { begin, end } = markers(section.id);
  const block = `${begin}\n${section.markdown.trim()}\n${end}`;
  const from = doc.indexOf(begin);
  const to = doc.indexOf(end);
  if (from >= 0 && to > from) return doc.slice(0, from) + block + doc.slice(to + end.length);
  if (from >= 0 || to >= 0) throw new ValidationError(`results: the markers of section '${section.id}' are broken (one missing or out of order)`, { field: section.id });
  const base = doc.trimEnd();
  return `${base}${base ? '\n\n' : ''}${block}\n`;
}

/** Rewrites one section of the results file (creating the file with its header if needed), atomically. */
export function writeSection(file: string, section: ResultsSection): void {
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : RESULTS_HEADER;
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, replaceSection(doc, section));
  renameSync(tmp, file);
}
