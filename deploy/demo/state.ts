/** The demo's own state: one directory under the temp dir, a JSON file of what it started. */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const DEMO_ROOT = process.env.FFK_DEMO_ROOT ?? path.join(os.tmpdir(), 'ffkeeper-demo');
const STATE_FILE = path.join(DEMO_ROOT, 'demo.json');

export interface DemoState {
  /** Processes the demo started, by role, to be stopped by --down. */
  pids: Record<string, number>;
  natsUrl?: string;
  controllerAddress?: string;
  /** Dev sites brought up, to be taken down by --down. */
  sites: string[];
  /** Whether it runs on network-namespace hosts (--netns), to be removed by --down. */
  netns?: boolean;
}

export function loadState(): DemoState | undefined {
  if (!existsSync(STATE_FILE)) return undefined;
  return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as DemoState;
}

export function saveState(state: DemoState): void {
  mkdirSync(DEMO_ROOT, { recursive: true });
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
}

export function removeRoot(): void {
  rmSync(DEMO_ROOT, { recursive: true, force: true });
}

