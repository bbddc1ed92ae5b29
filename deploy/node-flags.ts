/**
 * The node options each ffkeeper bin runs with, stated once for every way a bin is started: the
 * package's /usr/bin wrappers (deploy/package/deb.ts), the `#!` line of the bundled bins
 * (scripts/bundle.mjs), the demo (deploy/demo/main.ts) and the test and bench harness
 * (test/harness/processes.ts).
 *
 * The agent: `--initial-old-space-size=128` lets its V8 heap reach 128 MiB before a full collection is
 * due. Left to itself, V8 sets that limit a little above the live heap, and an agent's live heap is
 * small (~30 MiB). During a watch list's initial sync, the files agents pass gigabytes of file data
 * through Buffers, TLS records and thread hand-offs. Each holds only briefly, but enough of them outlive
 * two scavenges to fill a 10 MiB margin every ~100 ms. The sync bench's master and slave files agents
 * then ran ~300 full collections for 2.7 GiB; their GC threads used ~8.6 s of CPU of the ~35 s the sync
 * took on 2 cores. With the flag: 50-70 collections, GC threads 2.7-4.3 s of CPU. The cost is at most
 * ~100 MiB of garbage held longer; a heap whose live part is larger than that (a million-file deletion
 * shield) already had a higher limit, so nothing changes for it.
 *
 * The controller, for the same reason: a snapshot of a 1,000-agent site is thousands of gRPC calls,
 * each a handful of short-lived objects. In the fleet-scale bench (same machine, back to back) the
 * controller's CPU per snapshot went from 850 to 750 ms and the round's p50 / p99 from 642 / 827 to
 * 546 / 726 ms.
 */
export const NODE_FLAGS: Readonly<Record<string, readonly string[]>> = {
  'ffkeeper-agent': ['--initial-old-space-size=128'],
  'ffkeeper-controller': ['--initial-old-space-size=128'],
};

/** The options for the bin at `file` (a path whose name, without extension, is the bin's name). */
export function nodeFlagsFor(file: string): readonly string[] {
  const name = (file.split('/').at(-1) ?? '').replace(/\.(mjs|js)$/, '');
  return NODE_FLAGS[name] ?? [];
}
