#!/usr/bin/env node
/**
 * ffkeeper-agent: runs on a FindFace host, announces itself and serves the Agent gRPC service;
 * `ffkeeper-agent enrol` obtains the host's certificate and NATS key with a join token;
 * `ffkeeper-agent discover` prints the agent config for the FindFace components it finds on the host.
 */
import './threadpool.js';
import { Command } from 'commander';
import { loadAgentConfig } from '../shared/config/agent.js';
import { EXIT_CODES } from '../shared/exit-codes.js';
import { createLogger } from '../shared/logger.js';
import { runMain, stopOnSignals } from '../shared/process.js';
import { VERSION } from '../shared/version.js';

async function run(configFile: string | undefined): Promise<void> {
  const config = loadAgentConfig(configFile);
  const logger = createLogger({ name: 'ffkeeper-agent', level: config.log.level });
  // Loaded here: `enrol` and `discover` need none of the agent's transports.
  const { startAgent } = await import('./app.js');
  let agent = await startAgent(config, logger);
  let stopping = false;
  stopOnSignals(() => ((stopping = true), agent.stop()), logger);
  for (;;) {
    const why = await Promise.race([agent.restart.then((reason) => ({ restart: reason })), agent.lost.then((err) => ({ lost: err }))]);
    if ('lost' in why) {
      if (!why.lost) return;
      logger.fatal({ err: why.lost.message }, `NATS refuses agent ${config.site}/${config.host} (its credentials revoked or replaced?): stopping`);
      await agent.stop().catch(() => undefined);
      process.exit(EXIT_CODES.UNAVAILABLE);
    }
    if (stopping) return;
    // A migration's switch: the same process serves what it now adopts.
    logger.info({ reason: why.restart }, 'agent starting again');
    await agent.stop();
    agent = await startAgent(config, logger);
  }
}

async function main(): Promise<void> {
  const program = new Command('ffkeeper-agent')
    .description('ffkeeper agent: backs up and restores the FindFace components of this host')
    .version(VERSION)
    .option('-c, --config <file>', 'agent config file (YAML or JSON); FFK_AGENT_* variables override fields', process.env.FFK_AGENT_CONFIG)
    .option('--check-config', 'validate the config (schema and values) and exit: 0 when it is valid, 2 naming each wrong field', false)
    .action(async (opts: { config?: string; checkConfig: boolean }) => {
      if (!opts.checkConfig) return run(opts.config);
      const c = loadAgentConfig(opts.config);
      process.stdout.write(`${opts.config ?? '(no file)'}: valid agent config for ${c.site}/${c.host}, ${c.components.length} component(s)${c.components.length ? ` (${c.components.map((x) => `${x.kind}:${x.name}`).join(', ')})` : ''}, gRPC ${c.grpc.listen}\n`);
    });
  program
    .command('enrol')
    .description("obtain this host's certificate and NATS key from the controller with a join token (ffkeeper agents enrol)")
    .requiredOption('--controller <host:port>', 'the enrolment address printed with the token')
    .requiredOption('--out <dir>', 'where to write ca.crt, agent.crt, agent.key and agent.nk (keys 0600)')
    .option('--token <token>', 'the token: @FILE or - (stdin); default: $FFKEEPER_JOIN_TOKEN (a token on the command line shows in ps)')
    .action(async (opts: { controller: string; out: string; token?: string }) => {
      const { enrol, readToken } = await import('./enrol.js');
      const r = await enrol({ controller: opts.controller, out: opts.out, token: readToken(opts.token, process.env) });
      process.stdout.write(
        [
          `enrolled as agent ${r.site}/${r.host}: ${r.files.cert}, ${r.files.key} (0600), ${r.files.seed} (0600), ${r.files.ca}`,
          'in this agent\'s config:',
          `  site: ${r.site}`,
          `  host: ${r.host}`,
          `  tls: {ca: ${r.files.ca}, cert: ${r.files.cert}, key: ${r.files.key}}`,
          `  nats: {servers: [...], seedFile: ${r.files.seed}}`,
          '',
        ].join('\n'),
      );
    });
  program
    .command('discover')
    .description("print the agent config for this host's FindFace components, read from FindFace's own files (each guess marked)")
    .option('--root <dir>', 'read the FindFace tree under DIR instead of /', '/')
    .option('--write <file>', 'also write the config to FILE (atomically; an existing FILE is kept unless --force)')
    .option('--force', 'let --write replace an existing file')
    .option('--site <id>', 'the site (no FindFace file names it; default: a guess from the host name)')
    .option('--host <id>', "the agent's host id (default: this machine's host name)")
    .option('--components <list>', 'what to look for and put in: postgres,findface-security,tarantool,sf-api,uploads (default: all)')
    .option('--nats <urls>', 'NATS servers, comma-separated (default: a guess, the local server)')
    .option('--tls-dir <dir>', "where this agent's certificate, key and NATS seed are (ffkeeper-agent enrol --out; default /etc/ffkeeper/tls)")
    .action(async (opts: { root: string; write?: string; force?: boolean; site?: string; host?: string; components?: string; nats?: string; tlsDir?: string }) => {
      const { runDiscover } = await import('./discover.js');
      runDiscover(opts, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
    });
  await program.parseAsync();
}

runMain('ffkeeper-agent', main);
