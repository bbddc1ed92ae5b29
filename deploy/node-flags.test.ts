import { describe, expect, it } from 'vitest';
import { NODE_FLAGS, nodeFlagsFor } from './node-flags.js';

describe('nodeFlagsFor', () => {
  it("gives a bin's node options by its file name, with or without an extension", () => {
    expect(nodeFlagsFor('/usr/lib/ffkeeper/dist/bin/ffkeeper-agent.mjs')).toEqual(NODE_FLAGS['ffkeeper-agent']);
    expect(nodeFlagsFor('dist/bin/ffkeeper-controller.mjs')).toEqual(['--initial-old-space-size=128']);
    expect(nodeFlagsFor('ffkeeper-agent')).toEqual(['--initial-old-space-size=128']);
  });

  it('gives none for a bin without options (the CLI) and for any other script', () => {
    expect(nodeFlagsFor('/x/dist/bin/ffkeeper.mjs')).toEqual([]);
    expect(nodeFlagsFor('/x/bench/fleet-scale/simulator.ts')).toEqual([]);
    expect(nodeFlagsFor('--cpu-prof')).toEqual([]);
  });
});
