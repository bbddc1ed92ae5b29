/**
 * Tags on repository snapshots (DESIGN.md §5): `ffk-site=<site>`, `ffk-cut=<cutId>`,
 * `ffk-component=<kind>:<name>`. Built and parsed only here.
 */
export interface SnapshotTags {
  site: string;
  cutId: string;
  component: string;
}

export function snapshotTags(t: SnapshotTags): string[] {
  return [`ffk-site=${t.site}`, `ffk-cut=${t.cutId}`, `ffk-component=${t.component}`];
}

export function siteTag(site: string): string {
  return `ffk-site=${site}`;
}

export function cutTag(cutId: string): string {
  return `ffk-cut=${cutId}`;
}

export function componentTag(component: string): string {
  return `ffk-component=${component}`;
}

/** Reads our tags back from a snapshot's tag list; undefined when one is missing. */
export function parseSnapshotTags(tags: readonly string[]): SnapshotTags | undefined {
  const get = (prefix: string): string | undefined => tags.find((t) => t.startsWith(prefix))?.slice(prefix.length);
  const site = get('ffk-site=');
  const cutId = get('ffk-cut=');
  const component = get('ffk-component=');
  return site && cutId && component ? { site, cutId, component } : undefined;
}
