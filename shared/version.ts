/** The ffkeeper version, read once from package.json. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

function findPackageJson(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i += 1) {
    const candidate = path.join(dir, 'package.json');
    try {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ffkeeper' && pkg.version) return pkg.version;
    } catch {
      // not here; go up
    }
    dir = path.dirname(dir);
  }
  return '0.0.0';
}

export const VERSION = findPackageJson();
