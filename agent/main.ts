#!/usr/bin/env node
/** ffkeeper-agent: runs on a FindFace host, announces itself and serves the Agent gRPC service. */
import './threadpool.js';
import { Command } from 'commander';
import { loadAgentConfig } from '../shared/config/agent.js';
import { EXIT_CODES } from '../shared/exit-codes.js';
import { createLogger } from '../shared/logger.js';
import { runMain, stopOnSignals } from '../shared/process.js';
import { VERSION } from '../shared/version.js';
import { startAgent } from './app.js';

async function main(): Promise<void> {
  const program = new Command('ffkeeper-agent')
    .description('ffkeeper agent: backs up and restores the FindFace components of this host')
    .version(VERSION)
    .option('-c, --config <file>', 'agent config file (YAML or JSON); FFK_AGENT_* variables override fields', process.env.FFK_AGENT_CONFIG)
    .parse();
  const opts = program.opts<{ config?: string }>();
  const config = loadAgentConfig(opts.config);
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

runMain('ffkeeper-agent', main);
