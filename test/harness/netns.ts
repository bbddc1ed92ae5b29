/** The tests' network-namespace hosts: the same module the demo's `--netns` uses (deploy/netns/hosts.ts). */
export * from '../../deploy/netns/hosts.js';
