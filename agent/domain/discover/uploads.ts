/**
 * Discovery of the upload directories: config.py's MEDIA_ROOT (else FindFace's default locations) and
 * findface-upload's `/var/lib/ffupload` (no config file names it). Only directories that exist go into
 * the `uploads` component; each one looked for and absent is reported.
 */
import type { z } from 'zod';
import type { uploadsComponentSchema } from '../../../shared/config/agent.js';
import { DEFAULT_MEDIA_ROOTS, FFUPLOAD_DIR } from './layout.js';
import type { HostTree } from './ports.js';
import type { SecurityConfigFound } from './postgres.js';
import { Notes, type DiscoveryReport, type Found } from './report.js';

export type UploadsComponentInput = z.input<typeof uploadsComponentSchema>;

/** The `uploads` component, or undefined when no upload directory exists here. */
export function discoverUploads(tree: HostTree, report: DiscoveryReport, security: SecurityConfigFound | undefined): Found<UploadsComponentInput> | undefined {
  const notes = new Notes();
  const paths: string[] = [];
  const sources: string[] = [];
  const mediaRoot = security?.storage.mediaRoot;
  const mediaCandidates = mediaRoot ? [mediaRoot] : DEFAULT_MEDIA_ROOTS;
  const media = mediaCandidates.map((p) => ({ named: p, dir: tree.findDir(p) })).find((c) => c.dir !== undefined);
  if (media?.dir) {
    paths.push(media.dir);
    sources.push(mediaRoot ? `MEDIA_ROOT of ${security?.file ?? 'config.py'}` : `FindFace's default ${media.named} (config.py names no MEDIA_ROOT)`);
  } else {
    for (const p of mediaCandidates) report.notFound(`${tree.where(p)}/ (${mediaRoot ? 'MEDIA_ROOT' : "FindFace's default uploads"})`);
  }
  const ffupload = tree.findDir(FFUPLOAD_DIR);
  if (ffupload) {
    paths.push(ffupload);
    sources.push(`findface-upload's ${FFUPLOAD_DIR}`);
  } else {
    report.notFound(`${tree.where(FFUPLOAD_DIR)}/ (findface-upload)`);
  }
  if (paths.length === 0) return undefined;
  notes.note([], `from ${sources.join(' and ')}`);
  return { value: { kind: 'uploads', name: 'uploads', paths }, notes };
}
