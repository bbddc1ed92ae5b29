/** The CLI's output channels, injected so commands are testable without a terminal. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Current time, for "2 s ago" style output. */
  now(): Date;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  now: () => new Date(),
};
