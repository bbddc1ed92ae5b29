#!/usr/bin/env node
/**
 * ffkeeper-agent: runs on a FindFace host, announces itself and serves the Agent gRPC service;
 * `ffkeeper-agent enrol` obtains the host's certificate and NATS key with a join token.
 */
import './threadpool.js';
import { Command } from 'commander';
import { loadAgentConfig } from '../shared/config/agent.js';
import { EXIT_CODES } from '../shared/exit-codes.js';
import { createLogger } from '../shared/logger.js';
import { runMain, stopOnSignals } from '../shared/process.js';
import { VERSION } from '../shared/version.js';
import { startAgent } from './app.js';

async function run(configFile: string | undefined): Promise<void> {
  const config = loadAgentConfig(configFile);
  const logger = createLogger({ name: 'ffkeeper-agent', level: config.log.level });
  const agent = await startAgent(config, logger);
  stopOnSignals(() => agent.stop(), logger);
  void agent.lost.then(async (err) => {
    if (!err) return;
    logger.fatal({ err: err.message }, `NATS refuses agent ${config.site}/${config.host} (its credentials revoked or replaced?): stopping`);
    await agent.stop().catch(() => undefined);
    process.exit(EXIT_CODES.UNAVAILABLE);
  });
}

async function main(): Promise<void> {
  const program = new Command('ffkeeper-agent')
    .description('ffkeeper agent: backs up and restores the FindFace components of this host')
    .version(VERSION)
    .option('-c, --config <file>', 'agent config file (YAML or JSON); FFK_AGENT_* variables override fields', process.env.FFK_AGENT_CONFIG)
    .action(async (opts: { config?: string }) => run(opts.config));
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
  await program.parseAsync();
}

runMain('ffkeeper-agent', main);
