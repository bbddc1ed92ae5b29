/**
 * Manifests as a repository stores them: each one a repository snapshot of its own (`ffk-manifest.json`,
 * tagged with the site, the cut and the controller's seal). Writing one seals a cut in that repository;
 * reading them back (a catalog rebuild, a secondary repository's copies) takes only those it can trust.
 */
import { Readable } from 'node:stream';
import { describeError } from '../../../shared/errors.js';
import { MANIFEST_COMPONENT, MANIFEST_FILENAME, type Manifest } from '../../../shared/manifest.js';
import { decodeManifest, encodeManifest } from '../../../shared/manifest-codec.js';
import type { OperationOptions, Repository } from '../../../shared/repository/repository.js';
import { componentTag, cutTag, sealOf, sealTag, siteTag, snapshotTags } from '../../../shared/tags.js';
import { manifestProblem, type ManifestSealer } from './seal.js';

/** Writes `manifest` to `repo`, sealed with the controller's key. */
export async function storeManifest(repo: Repository, manifest: Manifest, sealer: ManifestSealer, options: OperationOptions = {}): Promise<void> {
  const bytes = Buffer.from(encodeManifest(manifest));
  await repo.backupStream(
    {
      stream: Readable.from([bytes]),
      filename: MANIFEST_FILENAME,
      tags: [...snapshotTags({ site: manifest.site, cutId: manifest.cutId, component: MANIFEST_COMPONENT }), sealTag(sealer.sign(bytes))],
      host: 'ffkeeper-controller',
    },
    options,
  );
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

/**
 * Removes every repository snapshot tagged with the cut's id — what a cut or an import that did not seal
 * stored (its manifest too, if it got that far); returns how many. Without a manifest in the catalog they
 * are invisible anyway: this frees their space at the next prune.
 */
export async function forgetCut(repo: Repository, cutId: string): Promise<number> {
  const left = await repo.listSnapshots({ tags: [cutTag(cutId)] });
  if (left.length > 0) await repo.forget({ snapshotIds: left.map((s) => s.id) });
  return left.length;
}

/** The tags of the site's manifest snapshots (of one cut, with `cutId`). */
export function manifestTags(site: string, cutId?: string): string[] {
  return [siteTag(site), componentTag(MANIFEST_COMPONENT), ...(cutId !== undefined ? [cutTag(cutId)] : [])];
}

/**
 * The site's manifests stored in `repo` (of one cut, with `cutId`) that pass `manifestProblem` (sealed by this fleet, of this site, not
 * dated in the future, decodable); every other one is left out and described in `flagged`, one line each.
 */
export async function readStoredManifests(
  repo: Repository,
  site: string,
  o: { sealer: ManifestSealer; acceptUnsealed: boolean; now: Date; signal?: AbortSignal; cutId?: string },
): Promise<{ manifests: Manifest[]; flagged: string[] }> {
  const options = o.signal ? { signal: o.signal } : {};
  const stored = await repo.listSnapshots({ tags: manifestTags(site, o.cutId) }, options);
  const manifests: Manifest[] = [];
  const flagged: string[] = [];
  for (const s of stored) {
    const bytes = await readAll(repo.dump({ snapshotId: s.id, path: `/${MANIFEST_FILENAME}` }, options)); // sealed as stored
    let manifest: Manifest | undefined;
    let decodeError: string | undefined;
    try {
      manifest = decodeManifest(bytes.toString('utf8'), `repository snapshot ${s.shortId}`);
    } catch (err) {
      decodeError = describeError(err);
    }
    const seal = sealOf(s.tags);
    const problem = manifestProblem({ bytes, seal, manifest, ...(decodeError ? { decodeError } : {}) }, { sealer: o.sealer, site, now: o.now, acceptUnsealed: o.acceptUnsealed });
    if (problem || !manifest) {
      flagged.push(`repository snapshot ${s.shortId} (${manifest ? `cut ${manifest.cutId}` : 'no cut'}, stored ${s.time.toISOString()} by host '${s.host}'): ${problem ?? 'unreadable'}`);
      continue;
    }
    manifests.push(manifest);
  }
  return { manifests, flagged };
}
