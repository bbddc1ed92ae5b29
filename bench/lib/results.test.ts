/** bench/RESULTS.md sections: a case rewrites only its own section. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors.js';
import { replaceSection, RESULTS_HEADER, writeSection } from './results.js';

const section = (id: string, text: string): { id: string; markdown: string } => ({ id, markdown: `## ${id}\n\n${text}\n` });

describe('results sections', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('appends a new section after the existing text', () => {
    const doc = replaceSection('# title\n\nintro\n', section('freeze-window', 'v1'));
    expect(doc).toBe('# title\n\nintro\n\n<!-- bench:freeze-window:begin -->\n## freeze-window\n\nv1\n<!-- bench:freeze-window:end -->\n');
  });

  it('replaces its own section and leaves the others and the text around them untouched', () => {
    let doc = replaceSection('# title\n', section('throughput', 'T1'));
    doc = replaceSection(doc, section('freeze-window', 'F1'));
    doc = `${doc}\nhand-written note\n`;
    const next = replaceSection(doc, section('freeze-window', 'F2'));
    expect(next).toContain('T1');
    expect(next).toContain('F2');
    expect(next).not.toContain('F1');
    expect(next).toContain('hand-written note');
    expect(next.indexOf('T1')).toBeLessThan(next.indexOf('F2'));
  });

  it('refuses broken markers and bad ids, naming the section', () => {
    const broken = '<!-- bench:freeze-window:begin -->\nno end\n';
    expect(() => replaceSection(broken, section('freeze-window', 'x'))).toThrow(ValidationError);
    expect(() => replaceSection(broken, section('freeze-window', 'x'))).toThrow("the markers of section 'freeze-window' are broken");
    expect(() => replaceSection('', section('Bad Id', 'x'))).toThrow("results section id 'Bad Id' must be lower-case letters, digits and '-'");
  });

  it('creates the file with its header, then rewrites in place', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-bench-results-'));
    dirs.push(dir);
    const file = path.join(dir, 'RESULTS.md');
    writeSection(file, section('freeze-window', 'first'));
    expect(readFileSync(file, 'utf8').startsWith(RESULTS_HEADER)).toBe(true);
    writeFileSync(file, readFileSync(file, 'utf8').replace('# ffkeeper benchmarks', '# ffkeeper benchmarks (edited)'));
    writeSection(file, section('freeze-window', 'second'));
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('(edited)');
    expect(text).toContain('second');
    expect(text).not.toContain('first');
  });
});
