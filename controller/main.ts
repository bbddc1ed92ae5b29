#!/usr/bin/env node
/** ffkeeper-controller: coordinates the fleet's agents and serves the Controller gRPC service. */
import { Command } from 'commander';
import { loadControllerConfig } from '../shared/config/controller.js';
import { createLogger } from '../shared/logger.js';
import { runMain, stopOnSignals } from '../shared/process.js';
import { VERSION } from '../shared/version.js';
import { startController } from './app.js';

async function main(): Promise<void> {
  const program = new Command('ffkeeper-controller')
    .description('ffkeeper controller: fleet inventory and coordination of agents')
    .version(VERSION)
    .option(
      '-c, --config <file>',
      'controller config file (YAML or JSON); FFK_CONTROLLER_* variables override fields',
      process.env.FFK_CONTROLLER_CONFIG,
    )
    .option('--check-config', 'validate the config (schema and values) and exit: 0 when it is valid, 2 naming each wrong field', false)
    .parse();
  const opts = program.opts<{ config?: string; checkConfig: boolean }>();
  const config = loadControllerConfig(opts.config);
  if (opts.checkConfig) {
    process.stdout.write(`${opts.config ?? '(no file)'}: valid controller config for ${config.id}, gRPC ${config.grpc.listen}, NATS ${config.nats.servers.join(',')}\n`);
    return;
  }
  const logger = createLogger({ name: 'ffkeeper-controller', level: config.log.level });
  const controller = await startController(config, logger);
  stopOnSignals(() => controller.stop(), logger);
}

runMain('ffkeeper-controller', main);
