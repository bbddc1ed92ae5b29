/**
 * How to run this dev site's own CLI in another process (the writer, the sf-api stand-in, the shims):
 * `node dist/deploy/dev-site/cli.js` when running compiled, `node --import tsx deploy/dev-site/cli.ts`
 * when running from source (tests). Resolved from this module's own location, so it works from any cwd.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface CliCommand {
  command: string;
  args: string[];
}

/** The command line that runs `cli.(js|ts)` next to this module. */
export function cliCommand(): CliCommand {
  const here = fileURLToPath(import.meta.url);
  const ext = path.extname(here);
  const cli = path.join(path.dirname(here), `cli${ext}`);
  if (ext !== '.ts') return { command: process.execPath, args: [cli] };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { command: process.execPath, args: ['--import', tsx, cli] };
}
