/** Builds dist/ once before the suite so end-to-end tests run the real bins as a user would. */
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  if (process.env.FFK_SKIP_BUILD === '1') return;
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
