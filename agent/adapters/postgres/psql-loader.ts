/**
 * `SqlLoader` over `psql` (first on the agent's PATH), as FindFace's restore runs it, made safe for a
 * streamed source: `psql -X -q -v ON_ERROR_STOP=1 --single-transaction` reading the dump from stdin.
 * stdin is closed (which commits) only after the source ended and `beforeCommit` resolved; on any
 * failure psql is killed instead, so the server rolls the whole load back.
 */
import { execa } from 'execa';
import { CancelledError, IllegalStateError, UnavailableError } from '../../../shared/errors.js';
import type { LoadRequest, SqlLoader } from '../../domain/drivers/postgres/ports.js';
import { endpointLabel, libpqEnv, tail, toolEnv, type PgEndpoint } from './connection.js';

const APP_NAME = 'ffkeeper-restore';

/** psql against PostgreSQL at `endpoint` (directly, not through pgbouncer). */
export class PsqlLoader implements SqlLoader {
  private readonly env: Record<string, string>;
  private readonly program: string;

  constructor(
    private readonly endpoint: PgEndpoint,
    options: { pathPrepend?: readonly string[]; program?: string } = {},
  ) {
    this.env = toolEnv(options.pathPrepend ?? []);
    this.program = options.program ?? 'psql';
  }

  async check(): Promise<void> {
    const r = await execa(this.program, ['--version'], { env: this.env, extendEnv: false, reject: false, timeout: 10_000 });
    if (r.exitCode !== 0) throw new UnavailableError(`${this.program} is not usable on this host (PATH=${this.env.PATH}): ${r.shortMessage}`);
  }

  async load(request: LoadRequest): Promise<void> {
    const env = { ...this.env, ...libpqEnv(this.endpoint, request.database, APP_NAME) };
    const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '--no-password'];
    const subprocess = execa(this.program, args, { env, extendEnv: false, stdin: 'pipe', stdout: 'ignore', stderr: 'pipe', reject: false, maxBuffer: 4 * 1024 * 1024 });
    const stdin = subprocess.stdin;
    const { input } = request;
    let failure: unknown;
    const abort = (err: unknown): void => {
      if (failure !== undefined) return;
      failure = err ?? new Error('source failed');
      subprocess.kill('SIGKILL'); // never let psql see EOF: that would commit
    };
    const onAbort = (): void => abort(new CancelledError(`load into database '${request.database}' was cancelled`));
    request.signal?.addEventListener('abort', onAbort, { once: true });
    stdin.on('error', () => undefined); // EPIPE when psql stopped early; its exit code tells why
    input.once('error', abort);
    input.once('end', () => {
      request.beforeCommit().then(() => {
        if (failure === undefined) stdin.end();
      }, abort);
    });
    input.pipe(stdin, { end: false });
    const result = await subprocess;
    input.unpipe(stdin);
    request.signal?.removeEventListener('abort', onAbort);
    if (failure !== undefined) {
      input.destroy();
      throw failure;
    }
    if (result.exitCode !== 0) {
      input.destroy();
      const why = tail(typeof result.stderr === 'string' ? result.stderr : '') || result.shortMessage;
      throw new IllegalStateError(`psql into database '${request.database}' on ${endpointLabel(this.endpoint)} failed (exit ${result.exitCode ?? 'none'}), nothing was committed: ${why}`);
    }
  }
}
