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

/**
 * The controller's seal on a manifest snapshot, `ffk-seal=<HMAC-SHA256 hex of the manifest's bytes>`: proof
 * that the controller wrote it, not a host whose repository credentials may append (issue 20).
 */
export function sealTag(seal: string): string {
  return `ffk-seal=${seal}`;
}

export function sealOf(tags: readonly string[]): string | undefined {
  return tags.find((t) => t.startsWith('ffk-seal='))?.slice('ffk-seal='.length);
}

/** Reads our tags back from a snapshot's tag list; undefined when one is missing. */
export function parseSnapshotTags(tags: readonly string[]): SnapshotTags | undefined {
  const get = (prefix: string): string | undefined => tags.find((t) => t.startsWith(prefix))?.slice(prefix.length);
  const site = get('ffk-site=');
  const cutId = get('ffk-cut=');
  const component = get('ffk-component=');
  return site && cutId && component ? { site, cutId, component } : undefined;
}
