/**
 * Loopback relay for agents in network namespaces (`npm run demo -- --netns`). A dev site's servers (the
 * machine's PostgreSQL, pgbouncer, the Tarantool shards, sf-api…) listen on 127.0.0.1 of the root
 * namespace; an agent in a namespace of its own dials them at 127.0.0.1 of *its* namespace, as an agent
 * dials the servers of its own host. The relay joins the two loopbacks through unix sockets, which a
 * namespace does not separate (they live in the file system):
 *
 *   node relay-main.js outside --dir DIR --ports P,Q,…   root namespace: DIR/<P>.sock → 127.0.0.1:P
 *   node relay-main.js inside  --dir DIR --ports P,Q,…   in a namespace: 127.0.0.1:P → DIR/<P>.sock
 *
 * Each connection is piped both ways and closed on either side's end or error. Runs until SIGTERM.
 */
import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export type RelaySide = 'outside' | 'inside';

export function socketOf(dir: string, port: number): string {
  return path.join(dir, `${port}.sock`);
}

/** Pipes `a` and `b` into each other; either one ending or failing closes both. */
function join(a: net.Socket, b: net.Socket): void {
  const close = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', close).on('close', close);
  b.on('error', close).on('close', close);
  a.pipe(b);
  b.pipe(a);
}

/**
 * Starts one side of the relay for every port; resolves once every listener is up (rejects naming the
 * port or socket that could not be taken). `close()` stops the listeners.
 */
export async function startRelay(side: RelaySide, dir: string, ports: readonly number[]): Promise<{ close(): Promise<void> }> {
  if (side === 'outside') mkdirSync(dir, { recursive: true, mode: 0o700 });
  const servers: net.Server[] = [];
  const close = (): Promise<void> => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined);
  try {
    for (const port of ports) {
      const sock = socketOf(dir, port);
      const server = net.createServer((client) =>
        join(client, side === 'outside' ? net.connect({ host: '127.0.0.1', port }) : net.connect({ path: sock })),
      );
      servers.push(server);
      if (side === 'outside' && existsSync(sock)) unlinkSync(sock); // left by a relay that was killed
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => reject(new Error(`relay (${side}): cannot listen on ${side === 'outside' ? sock : `127.0.0.1:${port}`}: ${err.message}`)));
        if (side === 'outside') server.listen(sock, resolve);
        else server.listen(port, '127.0.0.1', resolve);
      });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { close };
}
