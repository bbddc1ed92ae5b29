/**
 * A discovery as people read it: a YAML agent config whose header lists the files read, the files looked
 * for and not found, the files that would not parse and other remarks, and whose values carry comments
 * saying where they came from — `guess:` marks a value no FindFace file gave.
 */
import { Document, isScalar, type Node } from 'yaml';
import type { Discovery } from './discover.js';

function section(title: string, lines: readonly string[]): string[] {
  return lines.length === 0 ? [] : [`${title}:`, ...lines.map((l) => `   ${l}`)];
}

/** The header's lines (without `#`). */
export function discoveryHeader(d: Discovery, root: string): string[] {
  return [
    ` ffkeeper-agent discover: the agent config for the FindFace components under ${root}`,
    ` (found: ${d.found.length > 0 ? d.found.join(', ') : 'nothing usable'})`,
    ...section(' read', d.report.read),
    ...section(' not found (looked for)', d.report.missing),
    ...section(' could not parse', d.report.problems),
    ...section(' remarks', d.report.remarks),
    ' "guess:" marks a value no FindFace file gave: check it. Fields not shown take their defaults',
    ' (README.md § Configuration).',
  ];
}

/** The config as YAML with its header and value comments. */
export function renderDiscovery(d: Discovery, root: string): string {
  const doc = new Document(d.raw);
  doc.commentBefore = discoveryHeader(d, root).join('\n');
  const byPath = new Map<string, { path: readonly (string | number)[]; texts: string[] }>();
  for (const n of d.notes) {
    const key = JSON.stringify(n.path);
    const entry = byPath.get(key) ?? { path: n.path, texts: [] };
    entry.texts.push(n.guess ? `guess: ${n.text}` : n.text);
    byPath.set(key, entry);
  }
  for (const { path, texts } of byPath.values()) {
    const node = doc.getIn(path, true) as Node | undefined;
    if (!node) continue;
    if (isScalar(node)) node.comment = ` ${texts.join('; ')}`;
    else node.commentBefore = texts.map((t) => ` ${t}`).join('\n');
  }
  return doc.toString({ lineWidth: 0 });
}
