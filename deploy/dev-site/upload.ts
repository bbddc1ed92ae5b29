/**
 * findface-upload of the dev site: the ffupload directory (normalized images, thumbnails) served over HTTP
 * as FindFace's nginx WebDAV serves it, read-only: `GET|HEAD /uploads/<path>` → the file, 404 when there
 * is none. sf-api's `normalized-storage.webdav.upload-url` points here; a model migration reads each
 * face's normalized image from it, as findface-sf-api-migrate does.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { UnavailableError } from '../../shared/errors.js';
import { startServiceUnit, stopServiceUnit } from './service-unit.js';
import type { SiteState } from './state.js';
import { UPLOAD_UNIT } from './unit-names.js';

const PREFIX = '/uploads/';

/** The file under `root` a request path names; undefined when it names none or escapes the root. */
export function fileOfRequest(root: string, urlPath: string): string | undefined {
  if (!urlPath.startsWith(PREFIX)) return undefined;
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath.slice(PREFIX.length));
  } catch {
    return undefined;
  }
  if (rel === '' || rel.includes('\0')) return undefined;
  const file = path.resolve(root, rel);
  return file.startsWith(`${path.resolve(root)}${path.sep}`) ? file : undefined;
}

export function uploadServer(root: string): http.Server {
  return http.createServer((req, res) => {
    const fail = (status: number, detail: string): void => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(`${detail}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, `${req.method ?? '?'}: read-only`);
    const file = fileOfRequest(root, new URL(req.url ?? '/', 'http://x').pathname);
    if (!file) return fail(404, 'not found');
    stat(file).then(
      (s) => {
        if (!s.isFile()) return fail(404, 'not found');
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': s.size });
        if (req.method === 'HEAD') return res.end();
        createReadStream(file).on('error', () => res.destroy()).pipe(res);
      },
      () => fail(404, 'not found'),
    );
  });
}

/** Serves the site's ffupload directory until SIGTERM/SIGINT. */
export async function serveUploadForeground(state: SiteState): Promise<void> {
  const up = state.upload;
  if (!up) throw new UnavailableError(`dev site '${state.site}' has no findface-upload (site.json predates it)`);
  const server = uploadServer(state.uploads.ffuploadDir);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(up.port, '127.0.0.1', resolve));
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => server.close(() => process.exit(0)));
}

/** `http://127.0.0.1:<port>/uploads/`: sf-api's normalized-storage URL. */
export function uploadUrlOf(state: SiteState): string | undefined {
  return state.upload ? `http://127.0.0.1:${state.upload.port}${PREFIX}` : undefined;
}

export async function startUpload(state: SiteState): Promise<number> {
  const up = state.upload;
  if (!up) throw new UnavailableError(`dev site '${state.site}' has no findface-upload (site.json predates it)`);
  return startServiceUnit(state, { unit: UPLOAD_UNIT, service: 'upload', port: () => up.port, logName: 'upload.log', label: 'findface-upload' });
}

export function stopUpload(state: SiteState): Promise<boolean> {
  return stopServiceUnit(state, UPLOAD_UNIT);
}
