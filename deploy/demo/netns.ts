/**
 * The demo's `--netns`: nats-server, the controller and every agent each on a host of its own — a Linux
 * network namespace with its own address (deploy/netns/hosts.ts) — so that every control-plane
 * connection (CLI → controller, controller → agents, everyone → NATS) crosses real interfaces between
 * real addresses, with mTLS and NATS credentials checked there.
 *
 * What is not moved: the dev sites' servers (the machine's PostgreSQL, pgbouncer, the Tarantool shards,
 * sf-api, findface-security) stay on the root namespace's 127.0.0.1. An agent reaches its site's servers
 * at 127.0.0.1 of its own namespace through the loopback relay (deploy/netns/relay.ts), and its
 * systemctl/findface-security shims enter the root namespace, so the units it starts run beside the rest
 * of the site.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { SiteState } from '../dev-site/index.js';
import { createHosts, ip, netnsNames, removeHosts, type NetnsHosts } from '../netns/hosts.js';

/** Names of the demo's namespaces, bridge and veths start with it; nothing else on the machine does. */
export const DEMO_NETNS_TAG = 'ffkdemo';
/** The demo's own (root) network namespace, attached under this name so the shims can enter it. */
const ROOT_NETNS = 'ffkroot-demo';
/** nats-server's client and monitoring ports, the controller's gRPC and console ports, every agent's gRPC port: the same on every host. */
export const NETNS_PORTS = { nats: 4222, natsMonitor: 8222, controller: 7700, console: 7443, agent: 7701 } as const;

export interface DemoHosts {
  hosts: NetnsHosts;
  /** For `nsenter --net=…`: the namespace the dev sites' servers run in. */
  rootNetns: string;
}

/** The namespace of an agent: `<site>-<host>`. */
export function agentHost(site: string, host: string): string {
  return `${site}-${host}`;
}

/** Creates the demo's hosts: `nats`, `ctl` and one per agent of each site (`<site>-<host>`). */
export function createDemoHosts(sites: readonly string[], agentHosts: readonly string[]): DemoHosts {
  const names = ['nats', 'ctl', ...sites.flatMap((s) => agentHosts.map((h) => agentHost(s, h)))];
  const hosts = createHosts(names, { tag: DEMO_NETNS_TAG });
  try {
    if (netnsNames().includes(ROOT_NETNS)) ip(['netns', 'del', ROOT_NETNS]);
    ip(['netns', 'attach', ROOT_NETNS, String(process.pid)]);
  } catch (err) {
    removeHosts(DEMO_NETNS_TAG);
    throw err;
  }
  return { hosts, rootNetns: path.join('/run/netns', ROOT_NETNS) };
}

/** Removes everything `createDemoHosts` made (processes still in the namespaces are killed). */
export function removeDemoHosts(): string[] {
  const removed = removeHosts(DEMO_NETNS_TAG);
  if (existsSync(path.join('/run/netns', ROOT_NETNS))) {
    ip(['netns', 'del', ROOT_NETNS]); // only the name: the namespace is the machine's own
    removed.push(ROOT_NETNS);
  }
  return removed;
}

/** `command args` run inside network namespace `netns`. */
export function inNetns(netns: string, command: string, args: readonly string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', netns, command, ...args]];
}

/** Every TCP port a site's agents dial on their host: PostgreSQL, pgbouncer, the shards, sf-api, extraction-api, findface-security. */
export function sitePorts(state: SiteState): number[] {
  const ports = [state.postgres.port, state.pgbouncer.port, state.sfApi.port, ...state.shards.map((s) => s.port)];
  if (state.extractionApi) ports.push(state.extractionApi.port);
  if (state.security) ports.push(state.security.port);
  return [...new Set(ports)].sort((a, b) => a - b);
}
