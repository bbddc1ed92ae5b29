/** Small network helpers shared by processes, the dev site and the test harness. */
import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A TCP port on `host` that was free a moment ago, picked by the OS (from its ephemeral range). */
function osPickedPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not determine a free port'));
        return;
      }
      const port = address.port;
      server.close(() => resolve(port));
    });
  });
}

/** Whether `port` can be listened on at `host` right now. */
function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** The first port the OS hands out for outgoing connections (`ip_local_port_range`); 32768 when unknown. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 11_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** Where ffkeeper processes on one machine note the ports freePort handed them (one file per port, holding the pid). */
export const PORT_RESERVATIONS_DIR = path.join(os.tmpdir(), 'ffk-ports');
/** A reservation older than this is stale even if its pid is alive (the pid may have been reused). */
const RESERVATION_MAX_AGE_MS = 6 * 3_600_000;

/** Set once this process has made (or found) PORT_RESERVATIONS_DIR. */
let reservationsDirMade = false;

/** Whether the reservation file names a process that has ended, or is too old to trust. */
function reservationStale(file: string): boolean {
  try {
    if (Date.now() - statSync(file).mtimeMs > RESERVATION_MAX_AGE_MS) return true;
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return true;
    if (pid === process.pid) return false;
    process.kill(pid, 0);
    return false;
  } catch (err) {
    // ESRCH: the process has ended; ENOENT: released meanwhile. EPERM: it lives under another user.
    return (err as NodeJS.ErrnoException).code !== 'EPERM';
  }
}

/**
 * Notes `port` as this process's, unless a live ffkeeper process on this machine holds it: a port that
 * freePort handed out stays out of every other freePort's picks while its holder lives, also while the
 * server on it is down (a test restarting a killed nats-server node on its port lost it to another test's
 * freePort). Best effort: where the folder cannot be written, every port counts as free of reservations.
 */
export function reservePort(port: number): boolean {
  const file = path.join(PORT_RESERVATIONS_DIR, String(port));
  for (let i = 0; i < 2; i += 1) {
    try {
      if (!reservationsDirMade) {
        mkdirSync(PORT_RESERVATIONS_DIR, { recursive: true, mode: 0o1777 });
        reservationsDirMade = true;
      }
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && reservationsDirMade) {
        reservationsDirMade = false; // removed meanwhile: made again on the next try
        continue;
      }
      if (code !== 'EEXIST') return true;
      if (!reservationStale(file)) return false;
      try {
        unlinkSync(file);
      } catch {
        // another process took it over first; the next try sees its file
      }
    }
  }
  return false;
}

/**
 * A TCP port that was free a moment ago, for a server to listen on, taken below the OS's ephemeral range:
 * a port from that range can be taken, before the server binds it or while it restarts, as the local port
 * of any outgoing connection on the machine, and the server then fails with "address in use" (seen for a
 * dev site's units and for a test's nats-server). The port is reserved for this process (`reservePort`), so
 * no other ffkeeper process's freePort hands it out while this one lives. Falls back to one the OS picks
 * when none of the tries is free.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const low = 10_000;
  const high = ephemeralLow() - 1;
  for (let i = 0; i < 50; i += 1) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (reservePort(port) && (await canListen(port, host))) return port;
  }
  const port = await osPickedPort(host);
  reservePort(port);
  return port;
}

/**
 * A port as `freePort` gives one, with `port + offset` free and reserved as well for each of `offsets`:
 * room for the ports of a server's planned neighbours (a dev site's Tarantool shard: the new shard a model
 * migration makes beside it at its port offset). Falls back to a plain `freePort` when no try has the room.
 */
export async function freePortWithRoom(offsets: readonly number[], host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 50; i += 1) {
    const port = await freePort(host);
    let room = true;
    for (const offset of offsets) {
      const neighbour = port + offset;
      if (neighbour >= ephemeralLow() || !reservePort(neighbour) || !(await canListen(neighbour, host))) {
        room = false;
        break;
      }
    }
    if (room) return port;
  }
  return freePort(host);
}

/** True when something accepts TCP connections on host:port. */
export async function isListening(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Waits until host:port accepts connections, or throws after `timeoutMs`. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await isListening(port, host)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
}
