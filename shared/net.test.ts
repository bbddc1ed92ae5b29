import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PORT_RESERVATIONS_DIR, freePort, freePortWithRoom, reservePort } from './net.js';

// Ports above the ephemeral range, which freePort never picks at random: no clash with a parallel test.
const PORTS = [64_901, 64_902, 64_903, 64_904];
const file = (port: number): string => path.join(PORT_RESERVATIONS_DIR, String(port));

describe('port reservations', () => {
  afterEach(() => {
    for (const p of PORTS) rmSync(file(p), { force: true });
  });

  it('hands a port to one process only: the first reservation wins, a second one (also by the holder) is refused', () => {
    const [port] = PORTS as [number];
    rmSync(file(port), { force: true });
    expect(reservePort(port)).toBe(true);
    expect(readFileSync(file(port), 'utf8')).toBe(String(process.pid));
    expect(reservePort(port)).toBe(false);
  });

  it('refuses a port a live process holds, and takes over one whose holder has ended or whose note is too old', () => {
    const [, live, ended, old] = PORTS as [number, number, number, number];
    writeFileSync(file(live), '1'); // init: alive as long as the machine is
    expect(reservePort(live)).toBe(false);

    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(file(ended), gone);
    expect(reservePort(ended)).toBe(true);
    expect(readFileSync(file(ended), 'utf8')).toBe(String(process.pid));

    writeFileSync(file(old), '1');
    const sevenHoursAgo = (Date.now() - 7 * 3_600_000) / 1000;
    utimesSync(file(old), sevenHoursAgo, sevenHoursAgo);
    expect(reservePort(old)).toBe(true);
  });

  it('freePort reserves what it hands out', async () => {
    const port = await freePort();
    try {
      expect(readFileSync(file(port), 'utf8')).toBe(String(process.pid));
      expect(reservePort(port)).toBe(false);
    } finally {
      rmSync(file(port), { force: true });
    }
  });

  it('freePortWithRoom reserves the port and its neighbours at the offsets: freePort hands none of them out', async () => {
    const port = await freePortWithRoom([10, 100]);
    const held = [port, port + 10, port + 100];
    try {
      for (const p of held) {
        expect(readFileSync(file(p), 'utf8'), String(p)).toBe(String(process.pid));
        expect(reservePort(p), String(p)).toBe(false); // what freePort asks before it hands a port out
      }
    } finally {
      for (const p of held) rmSync(file(p), { force: true });
    }
  });
});
