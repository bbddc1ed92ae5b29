/**
 * `ffkeeper ca init|issue`: the fleet CA on the controller host, and certificates signed by it. Local
 * commands (no controller call). `ca init --dir D` writes the CA (`ca.crt`, `ca.key`), the controller's
 * certificate (`controller.crt`/`.key`) and a first operator's (`operator.crt`/`.key`), so D also works
 * as that operator's `--tls-dir`; it never overwrites a CA. `ca issue` writes `<out>/ca.crt` and the
 * certificate and key of one agent, operator or controller (`agent.*`, `operator.*`, `controller.*`);
 * agents and controllers also get their NATS nkey seed (`agent.nk`, `controller.nk`).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ConflictError, ValidationError } from '../../../shared/errors.js';
import { isValidId } from '../../../shared/ids.js';
import { formatIdentity, isValidOperatorName, type PeerIdentity } from '../../../shared/security/identity.js';
/** The X.509 library is loaded by these two commands only: every other CLI call starts without it. */
const pki = (): Promise<typeof Pki> => import('../../../shared/security/pki.js');

import type { CliIo } from '../io.js';
import type * as Pki from '../../../shared/security/pki.js';
import { DEFAULT_LEAF_DAYS } from '../../../shared/security/tls-files.js';
import { natsSeedOf } from '../../../shared/security/tls-files.js';

export interface CaInitOptions {
  dir: string;
  controllerId: string;
  operator: string;
  days?: string;
}

export interface CaIssueOptions {
  dir: string;
  out: string;
  agent?: string;
  operator?: string;
  controller?: string;
  days?: string;
}

function days(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 36500) throw new ValidationError(`--days '${text}' must be a whole number of days (1-36500)`, { field: 'days' });
  return n;
}

function identityOf(opts: CaIssueOptions): { identity: PeerIdentity; name: 'agent' | 'operator' | 'controller' } {
  const given = [opts.agent, opts.operator, opts.controller].filter((v) => v !== undefined);
  if (given.length !== 1) throw new ValidationError('ca issue needs exactly one of --agent SITE/HOST, --operator NAME, --controller ID', { field: 'agent' });
  if (opts.agent !== undefined) {
    const [site, host, ...rest] = opts.agent.split('/');
    if (!site || !host || rest.length > 0 || !isValidId(site) || !isValidId(host)) throw new ValidationError(`--agent '${opts.agent}' must be SITE/HOST, e.g. msk-1/db`, { field: 'agent' });
    return { identity: { kind: 'agent', site, host }, name: 'agent' };
  }
  if (opts.operator !== undefined) {
    if (!isValidOperatorName(opts.operator)) throw new ValidationError(`--operator '${opts.operator}' must be 1-128 letters, digits, '.', '_', '-' or '@'`, { field: 'operator' });
    return { identity: { kind: 'operator', name: opts.operator }, name: 'operator' };
  }
  const id = opts.controller as string;
  if (!isValidId(id)) throw new ValidationError(`--controller '${id}' is not a valid controller id`, { field: 'controller' });
  return { identity: { kind: 'controller', id }, name: 'controller' };
}

export async function runCaInit(opts: CaInitOptions, io: CliIo): Promise<void> {
  const dir = path.resolve(opts.dir);
  if (existsSync(path.join(dir, 'ca.key'))) throw new ConflictError(`${dir} already holds a fleet CA (ca.key); a CA is never overwritten`);
  if (!isValidId(opts.controllerId)) throw new ValidationError(`--controller-id '${opts.controllerId}' is not a valid controller id`, { field: 'controller-id' });
  if (!isValidOperatorName(opts.operator)) throw new ValidationError(`--operator '${opts.operator}' must be 1-128 letters, digits, '.', '_', '-' or '@'`, { field: 'operator' });
  await (await pki()).initCaDir(dir, { controllerId: opts.controllerId, operator: opts.operator, days: days(opts.days, DEFAULT_LEAF_DAYS) });
  io.out(
    [
      `fleet CA created in ${dir} (ca.key is the fleet's root secret: keep it on the controller host, mode 0600)`,
      `controller '${opts.controllerId}': tls: {ca: ${path.join(dir, 'ca.crt')}, cert: ${path.join(dir, 'controller.crt')}, key: ${path.join(dir, 'controller.key')}}, nats: {seedFile: ${path.join(dir, 'controller.nk')}}`,
      `operator '${opts.operator}': --tls-dir ${dir} (or FFKEEPER_TLS_DIR=${dir})`,
      `agents: ffkeeper ca issue --dir ${dir} --agent SITE/HOST --out DIR`,
      `nats-server: ffkeeper nats-config --ca-dir ${dir} --out FILE (regenerated and reloaded on every issue and revoke)`,
    ].join('\n'),
  );
}

export async function runCaIssue(opts: CaIssueOptions, io: CliIo): Promise<void> {
  const dir = path.resolve(opts.dir);
  if (!existsSync(path.join(dir, 'ca.key'))) throw new ValidationError(`${dir} holds no fleet CA (ca.crt, ca.key): run ffkeeper ca init --dir ${dir} first`, { field: 'dir' });
  const { identity, name } = identityOf(opts);
  const files = await (await pki()).issueInto(dir, path.resolve(opts.out), identity, { name, days: days(opts.days, DEFAULT_LEAF_DAYS) });
  const seed = identity.kind === 'operator' ? '' : `, NATS seed ${natsSeedOf(files)} (0600)`;
  io.out(`certificate of ${formatIdentity(identity)} written: ${files.cert}, ${files.key} (0600), ${files.ca}${seed}`);
}

export interface NatsConfigOptions {
  caDir: string;
  out: string;
  listen: string;
  monitor: string;
  storeDir: string;
  pidFile?: string;
  name: string;
  /** This server as a node of a cluster: where its routes listen, and the other nodes' route addresses. */
  clusterListen?: string;
  routes?: string;
  clusterName: string;
}

/**
 * Registers a nats-server with the fleet CA and writes its configuration: JetStream, and each agent's and
 * the controller's nkey with its permissions (shared/security/nats-permissions.ts). Every later `ca issue`,
 * enrolment or revocation rewrites the file and reloads the server (its pid read from --pid-file).
 */
const keys = (n: number): string => `${n} ${n === 1 ? 'key' : 'keys'}`;

export async function runNatsConfig(opts: NatsConfigOptions, io: CliIo): Promise<void> {
  const dir = path.resolve(opts.caDir);
  if (!existsSync(path.join(dir, 'ca.key'))) throw new ValidationError(`${dir} holds no fleet CA (ca.crt, ca.key): run ffkeeper ca init --dir ${dir} first`, { field: 'ca-dir' });
  for (const [flag, value] of [['--listen', opts.listen], ['--monitor', opts.monitor]] as const) {
    if (!/^[^\s:]+:\d{1,5}$/.test(value)) throw new ValidationError(`${flag} '${value}' must be host:port`, { field: flag.slice(2) });
  }
  const routes = (opts.routes ?? '').split(',').map((r) => r.trim()).filter(Boolean);
  if ((opts.clusterListen === undefined) !== (routes.length === 0)) throw new ValidationError('--cluster-listen and --routes go together: a cluster node listens for routes and names the other nodes', { field: 'routes' });
  for (const [flag, value] of [['--cluster-listen', opts.clusterListen], ...routes.map((r) => ['--routes', r] as const)] as const) {
    if (value !== undefined && !/^[^\s:]+:\d{1,5}$/.test(value)) throw new ValidationError(`${flag} '${value}' must be host:port`, { field: flag.slice(2) });
  }
  const { registerNatsServer, natsUsers } = await import('../../../shared/security/nats-users.js');
  const out = path.resolve(opts.out);
  const cluster = opts.clusterListen === undefined ? undefined : { serverName: opts.name, name: opts.clusterName, listen: opts.clusterListen, routes };
  await registerNatsServer(dir, {
    name: opts.name,
    configFile: out,
    listen: opts.listen,
    monitor: opts.monitor,
    storeDir: path.resolve(opts.storeDir),
    ...(opts.pidFile === undefined ? {} : { pidFile: path.resolve(opts.pidFile) }),
    ...(cluster ? { cluster } : {}),
  });
  io.out(
    [
      `nats-server configuration written: ${out} (${keys(natsUsers(dir).length)}: the controller's and those of the agents issued by ${dir})`,
      `start it: nats-server -c ${out}${opts.pidFile ? ` -P ${path.resolve(opts.pidFile)}` : ''}`,
      opts.pidFile ? 'every ca issue, enrolment and revocation rewrites it and reloads the server' : 'without --pid-file the file is rewritten on every ca issue and revocation but the server is not reloaded',
      ...(cluster
        ? [
            `cluster '${cluster.name}': this node is '${cluster.serverName}', routes listen on ${cluster.listen}, to ${routes.join(', ')}; the route secret is ${path.join(dir, 'nats', 'route-secret')} (every node's configuration must come from this CA directory)`,
            'give the controller and the agents every node in nats.servers, and nats.replicas: 3',
          ]
        : []),
    ].join('\n'),
  );
}

export function registerCaCommands(program: Command, io: CliIo): void {
  program
    .command('nats-config')
    .description("write (and keep) the fleet nats-server's configuration: JetStream, one nkey per agent and controller, each with its permissions")
    .requiredOption('--ca-dir <dir>', 'the CA directory (ca init)')
    .requiredOption('--out <file>', 'the configuration file to write')
    .option('--listen <host:port>', 'where clients connect', '127.0.0.1:4222')
    .option('--monitor <host:port>', "the server's monitoring endpoint (reloads are confirmed there)", '127.0.0.1:8222')
    .option('--store-dir <dir>', "JetStream's store directory", '/var/lib/nats/jetstream')
    .option('--pid-file <file>', "the server's pid file (nats-server -P): reloaded on every change")
    .option('--name <name>', "this server among those the CA keeps (a cluster node's server_name)", 'nats')
    .option('--cluster-listen <host:port>', 'make this server a cluster node: where its routes listen')
    .option('--routes <host:port,...>', "the other cluster nodes' route addresses")
    .option('--cluster-name <name>', 'the cluster name, the same on every node', 'ffkeeper')
    .action((opts: NatsConfigOptions) => runNatsConfig(opts, io));
  const ca = program.command('ca').description("the fleet CA (on the controller host) and certificates signed by it");
  ca.command('init')
    .description('create the fleet CA, the controller certificate and a first operator certificate in DIR')
    .requiredOption('--dir <dir>', 'where to write ca.crt, ca.key, controller.*, operator.*')
    .option('--controller-id <id>', "the controller's id (its config's id)", 'controller-1')
    .option('--operator <name>', 'the first operator', 'admin')
    .option('--days <n>', 'validity of the controller and operator certificates')
    .action((opts: CaInitOptions) => runCaInit(opts, io));
  ca.command('issue')
    .description('issue a certificate signed by the fleet CA in DIR')
    .requiredOption('--dir <dir>', 'the CA directory (ca init)')
    .requiredOption('--out <dir>', 'where to write ca.crt and the certificate and key')
    .option('--agent <site/host>', 'an agent')
    .option('--operator <name>', 'an operator')
    .option('--controller <id>', 'a controller')
    .option('--days <n>', 'validity in days')
    .action((opts: CaIssueOptions) => runCaIssue(opts, io));
}
