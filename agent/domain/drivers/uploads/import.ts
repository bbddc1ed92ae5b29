/**
 * A snapshot import of the upload directories: each configured root's archive in the export
 * (`<root with / as _>.tar.gz`, entries named by the root's path below `/`, as `tar -czf … /var/lib/ffupload/`
 * writes them) unpacked into the agent's work directory, then stored in one repository run as the trees a
 * cut stores (`/uploads/<rel>`, `/ffupload/<rel>`), so restore, verify and export take the artifact like
 * any other. The live roots are not touched.
 *
 * Unpacking is checked: an entry outside the root's path, one whose name climbs out (`..`, absolute), a
 * device, fifo or other special file, or a damaged archive fails the import naming the archive and the
 * entry — nothing of an archive lands outside its own work directory.
 */
import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { extract } from 'tar';
import { NotFoundError, ValidationError } from '../../../../shared/errors.js';
import type { ProgressEvent, Repository } from '../../../../shared/repository/repository.js';
import { snapshotTags } from '../../../../shared/tags.js';
import { archivePrefix, uploadArchiveName } from '../findface-backup.js';
import type { ComponentArtifact, ImportContext } from '../types.js';

/** Entry types an upload root may hold (what the export writes and FindFace keeps there). */
const ENTRY_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

export interface UploadsImportInput {
  ctx: ImportContext;
  ref: string;
  /** The configured roots, and the name each is stored under (`viewNames`). */
  roots: readonly string[];
  names: readonly string[];
  viewDir: string;
  host?: string;
}

/** Unpacks one root's archive into `dir` (the root's own path stripped); throws naming the bad entry. */
export async function unpackRoot(file: string, dir: string, root: string): Promise<void> {
  const prefix = archivePrefix(root);
  const depth = prefix.split('/').length;
  const problems: string[] = [];
  const inRoot = (p: string): boolean => {
    const clean = p.replace(/^\.\//, '').replace(/\/+$/, '');
    return clean === prefix || clean.startsWith(`${prefix}/`);
  };
  try {
    await extract({
      file,
      cwd: dir,
      strip: depth,
      strict: true,
      preserveOwner: process.getuid?.() === 0,
      filter: (p, entry) => {
        const type = 'type' in entry ? entry.type : undefined;
        if (!inRoot(p)) problems.push(`${p}: outside ${prefix}/ (the archive of ${root} holds only entries below it)`);
        else if (type !== undefined && !ENTRY_TYPES.has(type)) problems.push(`${p}: a ${type} entry (only files, directories and links are taken)`);
        return problems.length === 0;
      },
    });
  } catch (err) {
    throw new ValidationError(`archive ${file} of upload root ${root} cannot be unpacked: ${(err as Error).message}`, { field: 'fromDir', cause: err });
  }
  if (problems.length > 0) {
    throw new ValidationError(`archive ${file} of upload root ${root} is refused: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`, { field: 'fromDir' });
  }
}

/** Stores every root's archive as this component's artifact; see the module comment. */
export async function importUploads(input: UploadsImportInput): Promise<ComponentArtifact> {
  const { ctx, ref } = input;
  const archives = input.roots.map((root) => ({ root, file: path.join(ctx.fromDir, uploadArchiveName(root)) }));
  for (const a of archives) {
    await access(a.file).catch((err: unknown) => {
      throw new NotFoundError(`${ref}: the export has no ${path.basename(a.file)} (upload root ${a.root}) in ${ctx.fromDir}`, { cause: err });
    });
  }
  const trees: { name: string; dir: string }[] = [];
  for (const [i, a] of archives.entries()) {
    if (ctx.signal?.aborted) throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new Error('import cancelled');
    const dir = path.join(ctx.workDir, `root-${i}`);
    await mkdir(dir, { recursive: true, mode: 0o750 });
    ctx.onProgress?.({ component: ref, step: 'unpack', message: `${path.basename(a.file)} → ${a.root}` });
    await unpackRoot(a.file, dir, a.root);
    trees.push({ name: input.names[i] as string, dir });
  }
  const stored = await backupTrees(ctx.repository, input, trees);
  const byName = new Map(trees.map((t, i) => [t.name, input.roots[i] as string]));
  const roots = Object.fromEntries(Object.entries(stored.paths).map(([name, p]) => [byName.get(name) ?? name, p]));
  ctx.logger.info({ component: ref, snapshotId: stored.snapshotId, files: stored.totalFilesProcessed, from: ctx.fromDir }, 'upload roots imported');
  return {
    component: ref,
    kind: 'uploads',
    cut: { kind: 'uploads', component: ref, time: ctx.time },
    snapshotIds: [stored.snapshotId],
    bytes: stored.totalBytesProcessed,
    files: stored.totalFilesProcessed,
    dataAddedBytes: stored.dataAddedBytes,
    details: {
      roots: JSON.stringify(roots),
      snapshotLayout: stored.layout,
      importedFrom: archives.map((a) => a.file).join(', '),
      filesNew: stored.filesNew,
      filesChanged: stored.filesChanged,
      filesUnmodified: stored.filesUnmodified,
    },
  };
}

function backupTrees(repository: Repository, input: UploadsImportInput, trees: { name: string; dir: string }[]): ReturnType<Repository['backupTrees']> {
  const { ctx, ref } = input;
  return repository.backupTrees(
    { tags: snapshotTags(ctx.tags), ...(input.host ? { host: input.host } : {}), trees, viewDir: input.viewDir },
    { ...(ctx.signal ? { signal: ctx.signal } : {}), onProgress: (event: ProgressEvent) => ctx.onProgress?.({ component: ref, step: 'backup', event }) },
  );
}
