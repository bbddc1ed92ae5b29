/**
 * The dev site's `systemctl` and `findface-security` shims (shims.ts) in a process of their own:
 * `shim-main <systemctl|findface-security> --site SITE [--root DIR] -- ARGS...`. The full CLI loads every
 * command's modules; a shim runs at every unit call of every agent (a real `systemctl` answers in
 * milliseconds), so this entry loads only the site's state and the shim, and a unit's module when it is
 * started or stopped.
 */
import { describeError } from '../../shared/errors.js';
import { exitCodeFor } from '../../shared/exit-codes.js';
import { setProcessTitle } from '../../shared/process.js';
import { loadSiteState } from './state.js';

function parse(argv: string[]): { tool: string; site: string; root: string | undefined; args: string[] } {
  const [tool = '', ...rest] = argv;
  const cut = rest.indexOf('--');
  const own = cut < 0 ? rest : rest.slice(0, cut);
  const args = cut < 0 ? [] : rest.slice(cut + 1);
  const value = (flag: string): string | undefined => {
    const i = own.indexOf(flag);
    return i < 0 ? undefined : own[i + 1];
  };
  const site = value('--site');
  if (!site) throw new Error(`usage: shim-main <systemctl|findface-security> --site SITE [--root DIR] -- ARGS...`);
  return { tool, site, root: value('--root'), args };
}

async function main(): Promise<void> {
  const { tool, site, root, args } = parse(process.argv.slice(2));
  setProcessTitle(`ffkdev-${tool}`); // told apart in `ps`, as the CLI's own shim command is
  const state = loadSiteState(site, root);
  const shims = await import('./shims.js');
  const r = tool === 'systemctl' ? await shims.runSystemctl(state, args) : tool === 'findface-security' ? await shims.runFindfaceSecurity(state, args) : { code: 1, stdout: '', stderr: `unknown shim '${tool}'\n` };
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  process.exitCode = r.code;
}

try {
  await main();
} catch (err) {
  process.stderr.write(`ffkeeper-devsite shim: ${describeError(err)}\n`);
  process.exitCode = exitCodeFor(err);
}
