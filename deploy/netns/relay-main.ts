#!/usr/bin/env node
/** The loopback relay's process (relay.ts): `node relay-main.js outside|inside --dir DIR --ports P,Q,…`. */
import { Command, InvalidArgumentError } from 'commander';
import { ValidationError } from '../../shared/errors.js';
import { runMain } from '../../shared/process.js';
import { startRelay } from './relay.js';

function parsePorts(value: string): number[] {
  const ports = value.split(',').map((p) => Number(p.trim()));
  if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) throw new InvalidArgumentError(`'${value}' is not a comma-separated list of TCP ports`);
  return ports;
}

async function main(): Promise<void> {
  const program = new Command('relay')
    .argument('<side>', 'outside (root namespace, unix sockets → loopback) or inside (a namespace, loopback → unix sockets)')
    .requiredOption('--dir <dir>', 'directory of the unix sockets, one per port')
    .requiredOption('--ports <list>', 'comma-separated TCP ports', parsePorts)
    .parse();
  const side = program.args[0];
  if (side !== 'outside' && side !== 'inside') throw new ValidationError(`side must be 'outside' or 'inside', not '${side}'`);
  const { dir, ports } = program.opts<{ dir: string; ports: number[] }>();
  const relay = await startRelay(side, dir, ports);
  process.stdout.write(`relay (${side}) up for ports ${ports.join(', ')} via ${dir}\n`);
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await relay.close();
}

runMain('ffkeeper-relay', main);
