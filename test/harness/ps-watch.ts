/**
 * Collects every distinct command line on the machine (`ps -eo args`) until stopped, so a test can show
 * that no secret — a repository password, a key — was ever on one (issue 16).
 */
import { execFile } from 'node:child_process';

export function watchCommandLines(intervalMs = 150): { stop(): Promise<string[]> } {
  const seen = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const out = await new Promise<string>((resolve) => execFile('ps', ['-eo', 'args', '--no-headers'], { maxBuffer: 64 * 1024 * 1024 }, (_err, stdout) => resolve(stdout ?? '')));
      for (const line of out.split('\n')) if (line.trim()) seen.add(line.trim());
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return [...seen];
    },
  };
}

/** The secrets of a fleet a command line must never hold: repository passwords, and each PEM key's body. */
export function secretsIn(secretsJson: Record<string, unknown>, keysPem: string[]): string[] {
  const passwords = Object.values(secretsJson).flatMap((v) => (typeof v === 'string' ? [v] : typeof v === 'object' && v ? Object.values(v as Record<string, unknown>).filter((x): x is string => typeof x === 'string') : []));
  const keys = keysPem.map((pem) => pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '').slice(0, 40));
  return [...passwords.filter((p) => p.length >= 8), ...keys];
}
