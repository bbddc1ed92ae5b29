/**
 * How to run this dev site's own CLI in another process (the writer, the sf-api stand-in, the shims):
 * `node dist/deploy/dev-site/cli.js` when running compiled, `node --import tsx deploy/dev-site/cli.ts`
 * when running from source. Resolved from this module's own location, so it works from any cwd.
 * FFK_DEVSITE_CLI names a compiled cli.js to run instead: the test suite builds dist/ first and sets it,
 * since a shim run through tsx costs 2–3 times the CPU (every systemctl call of every agent is one).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface CliCommand {
  command: string;
  args: string[];
}

/** The command line that runs `cli.(js|ts)` next to this module (or `entry`, another entry point there). */
export function cliCommand(entry: 'cli' | 'unit-main' = 'cli'): CliCommand {
  const compiled = process.env.FFK_DEVSITE_CLI;
  if (compiled) return { command: process.execPath, args: [path.join(path.dirname(compiled), `${entry}.js`)] };
  const here = fileURLToPath(import.meta.url);
  const ext = path.extname(here);
  const cli = path.join(path.dirname(here), `${entry}${ext}`);
  if (ext !== '.ts') return { command: process.execPath, args: [cli] };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { command: process.execPath, args: ['--import', tsx, cli] };
}
