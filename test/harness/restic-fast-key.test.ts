/**
 * The test PATH's restic wrapper (test/harness/bin): a repository created through it opens with cheap key
 * parameters, keeps its data readable and checkable, and still refuses a wrong password.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(path.join(tmpdir(), 'ffk-fast-key-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('restic on the test PATH', () => {
  it('is the wrapper, and re-keys a new repository with N=1024 r=8 p=1 that restic opens, backs up to and checks', () => {
    expect(execFileSync('bash', ['-c', 'command -v restic'], { encoding: 'utf8' }).trim()).toBe(path.resolve('test/harness/bin/restic'));
    const repo = path.join(dir, 'repo');
    const env = { ...process.env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: 'a long test password' };
    execFileSync('restic', ['init', '--repository-version', '2'], { env, stdio: 'ignore' });
    const keys = readdirSync(path.join(repo, 'keys'));
    expect(keys).toHaveLength(1);
    const key = JSON.parse(readFileSync(path.join(repo, 'keys', keys[0] ?? ''), 'utf8')) as Record<string, unknown>;
    expect({ N: key.N, r: key.r, p: key.p, kdf: key.kdf }).toEqual({ N: 1024, r: 8, p: 1, kdf: 'scrypt' });

    const src = path.join(dir, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'face.jpg'), 'not really a jpeg');
    execFileSync('restic', ['--no-cache', 'backup', '-q', src], { env });
    expect(execFileSync('restic', ['--no-cache', 'dump', 'latest', path.join(src, 'face.jpg')], { env, encoding: 'utf8' })).toBe('not really a jpeg');
    expect(execFileSync('restic', ['--no-cache', 'check', '--read-data'], { env, encoding: 'utf8' })).toContain('no errors were found');

    const wrong = spawnSync('restic', ['--no-cache', 'cat', 'config'], { env: { ...env, RESTIC_PASSWORD: 'not the password' }, encoding: 'utf8' });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('wrong password');
  });
});
