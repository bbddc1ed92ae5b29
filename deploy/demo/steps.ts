/** Readable demo output: numbered steps with what each proves and how long it took. */

export class StepPrinter {
  private n = 0;
  private started = 0;

  constructor(private readonly write: (text: string) => void = (t) => process.stdout.write(t)) {}

  begin(title: string, proves: string): void {
    this.n += 1;
    this.started = Date.now();
    this.write(`\n[${this.n}] ${title}\n    ${proves}\n`);
  }

  info(text: string): void {
    this.write(`${text.replace(/^/gm, '    ')}\n`);
  }

  done(summary = 'ok'): void {
    this.write(`    ✔ ${summary} (${((Date.now() - this.started) / 1000).toFixed(1)} s)\n`);
  }
}
