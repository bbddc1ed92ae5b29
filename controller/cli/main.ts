#!/usr/bin/env node
/**
 * `ffkeeper`: the operator's command line. Each command parses into an options object and calls a run
 * function with injected dependencies (controller API, io). Errors print one line and exit with the
 * code documented in README.md (see shared/exit-codes.ts).
 */
import { Command, CommanderError } from 'commander';
import { describeError } from '../../shared/errors.js';
import { setProcessTitle } from '../../shared/process.js';
import { EXIT_CODES, exitCodeFor } from '../../shared/exit-codes.js';
import { DEFAULT_CONTROLLER_GRPC_LISTEN } from '../../shared/config/controller.js';
import { VERSION } from '../../shared/version.js';
import { GrpcControllerApi, type ControllerApi } from './api.js';
import { processIo, type CliIo } from './io.js';
import { runSitesList } from './commands/sites.js';
import { runAgentsEnrol, runAgentsList, runAgentsRevoke, runAgentsShow } from './commands/agents.js';
import { runOperatorsRevoke, runOperatorsToken } from './commands/operators.js';
import { registerJobCommands } from './register-jobs.js';
import { registerPolicyCommands } from './register-policies.js';
import { registerSyncCommands } from './register-sync.js';
import { registerMigrateCommands } from './commands/migrate.js';
import { processTerminal } from './terminal.js';
import { cliSecurity } from './tls.js';
import { registerCaCommands } from './commands/ca.js';
import { registerAuditCommands } from './commands/audit.js';

interface GlobalOptions {
  controller: string;
  json: boolean;
  timeout: string;
  tlsDir?: string;
  insecure?: boolean;
}

function buildProgram(io: CliIo, connect: (g: GlobalOptions) => ControllerApi): Command {
  const program = new Command('ffkeeper')
    .description('ffkeeper: back up, restore, verify and synchronise FindFace sites')
    .version(VERSION)
    .option('--controller <addr>', 'controller gRPC address (env FFKEEPER_CONTROLLER)', process.env.FFKEEPER_CONTROLLER ?? DEFAULT_CONTROLLER_GRPC_LISTEN)
    .option('--json', 'print JSON for scripts instead of tables', false)
    .option('--timeout <ms>', 'deadline of each call to the controller', '10000')
    .option('--tls-dir <dir>', 'the operator certificate: ca.crt, operator.crt, operator.key (env FFKEEPER_TLS_DIR; default ~/.config/ffkeeper/tls)')
    .option('--insecure', 'plaintext to a lab controller started with insecure: true (warned; env FFKEEPER_INSECURE=1)', process.env.FFKEEPER_INSECURE === '1')
    .showHelpAfterError();

  const withApi = async (cmd: Command, fn: (api: ControllerApi, g: GlobalOptions) => Promise<void>): Promise<void> => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const api = connect(g);
    try {
      await fn(api, g);
    } finally {
      api.close();
    }
  };

  const sites = program.command('sites').description('sites known to the controller');
  sites
    .command('list')
    .description('list sites with their agents online/total')
    .action((_opts, cmd: Command) => withApi(cmd, (api, g) => runSitesList({ json: g.json }, { api, io })));

  const agents = program.command('agents').description('agents of the fleet');
  agents
    .command('list')
    .description('list agents, online and offline')
    .option('--site <site>', 'only agents of this site')
    .action((opts: { site?: string }, cmd: Command) =>
      withApi(cmd, (api, g) => runAgentsList({ json: g.json, ...(opts.site === undefined ? {} : { site: opts.site }) }, { api, io })),
    );
  agents
    .command('show')
    .description("one agent's details, asked live from the agent")
    .argument('<site/host>', 'the agent, e.g. msk-1/db')
    .action((ref: string, _opts, cmd: Command) => withApi(cmd, (api, g) => runAgentsShow({ agent: ref, json: g.json }, { api, io })));
  agents
    .command('enrol')
    .description('a one-time join token for a new agent (admin; the controller must hold the fleet CA)')
    .requiredOption('--site <site>', "the agent's site")
    .requiredOption('--host <host>', "the agent's host")
    .option('--ttl <duration>', 'how long the token is good (30m, 1h, 2d; at most 7d)', '1h')
    .action((opts: { site: string; host: string; ttl: string }, cmd: Command) => withApi(cmd, (api, g) => runAgentsEnrol({ ...opts, json: g.json }, { api, io })));
  agents
    .command('revoke')
    .description("refuse an agent's certificates and remove its NATS keys, at once (admin)")
    .argument('<site/host>', 'the agent, e.g. msk-1/db')
    .action((ref: string, _opts, cmd: Command) => withApi(cmd, (api, g) => runAgentsRevoke({ agent: ref, json: g.json }, { api, io })));
  const operators = program.command('operators').description("operators' access");
  operators
    .command('token')
    .description('a web console login token for an operator (admin); its role is the one in the controller config (access.operators)')
    .argument('<name>', 'the operator name')
    .option('--ttl <duration>', 'how long the token is good (30m, 12h, 2d; at most 7d)', '12h')
    .action((name: string, opts: { ttl: string }, cmd: Command) => withApi(cmd, (api, g) => runOperatorsToken({ name, ttl: opts.ttl, json: g.json }, { api, io })));
  operators
    .command('revoke')
    .description("refuse an operator's certificates from now on: every call it makes is denied (admin; not your own)")
    .argument('<name>', 'the operator name in its certificate')
    .action((name: string, _opts, cmd: Command) => withApi(cmd, (api, g) => runOperatorsRevoke({ name, json: g.json }, { api, io })));

  registerJobCommands(program, { io, term: processTerminal, withApi, exitNow: () => process.exit(0) });
  registerPolicyCommands(program, { io, term: processTerminal, withApi, exitNow: () => process.exit(0) });
  registerSyncCommands(program, { io, term: processTerminal, withApi, exitNow: () => process.exit(0) });
  registerMigrateCommands(program, { io, term: processTerminal, withApi, exitNow: () => process.exit(0) });
  registerCaCommands(program, io);
  registerAuditCommands(program, { io, term: processTerminal, withApi, exitNow: () => process.exit(0) });

  return program;
}

function timeoutOf(g: GlobalOptions): number {
  const ms = Number(g.timeout);
  return Number.isFinite(ms) && ms > 0 ? ms : 10_000;
}

async function main(): Promise<void> {
  setProcessTitle('ffkeeper');
  const program = buildProgram(processIo, (g) => new GrpcControllerApi(g.controller, timeoutOf(g), cliSecurity(g, processIo.err)));
  program.exitOverride();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      process.exit(ok ? 0 : EXIT_CODES.VALIDATION);
    }
    processIo.err(`ffkeeper: ${describeError(err)}`);
    process.exit(exitCodeFor(err));
  }
}

void main();
