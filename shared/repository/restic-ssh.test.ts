import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { SSH_PASSWORD_ENV, sftpEndpoint, sshSettings } from './restic-ssh.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-ssh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KNOWN = '[repo.example]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n';

describe('sftp locations and ssh settings', () => {
  it('reads user, host and port from both sftp: forms', () => {
    expect(sftpEndpoint('sftp://ffk@repo.example:2222//srv/restic/msk-1')).toEqual({ user: 'ffk', host: 'repo.example', port: 2222 });
    expect(sftpEndpoint('sftp://[::1]//srv/r')).toEqual({ user: undefined, host: '::1', port: undefined });
    expect(sftpEndpoint('sftp:ffk@repo.example:/srv/restic')).toEqual({ user: 'ffk', host: 'repo.example', port: undefined });
    expect(() => sftpEndpoint('rest:https://x/y')).toThrow(ValidationError);
  });

  it('puts no secret in the ssh command; the password travels in the environment for the askpass helper', () => {
    const s = sshSettings('sftp://ffk@repo.example:2222//srv/restic/msk-1', { password: 'hunter2-hunter2', knownHosts: KNOWN }, dir);
    expect(s.args[0]).toBe('-o');
    expect(s.args[1]).toMatch(/^sftp\.command=\S+\/ffk-ssh-[0-9a-f]+ -o UserKnownHostsFile=\S+ -o GlobalKnownHostsFile=\/dev\/null -o StrictHostKeyChecking=yes .* -p 2222 ffk@repo\.example -s sftp$/);
    expect(s.args.join(' ')).not.toContain('hunter2');
    expect(s.env[SSH_PASSWORD_ENV]).toBe('hunter2-hunter2');
    expect(s.env.SSH_ASKPASS_REQUIRE).toBe('force');
    expect(s.secrets).toEqual(['hunter2-hunter2']);
    const known = /UserKnownHostsFile=(\S+)/.exec(s.args[1] as string)?.[1] as string;
    expect(readFileSync(known, 'utf8')).toBe(KNOWN);
    expect(readFileSync(s.env.SSH_ASKPASS as string, 'utf8')).not.toContain('hunter2');
    expect(statSync(s.env.SSH_ASKPASS as string).mode & 0o777).toBe(0o755);
  });

  it('refuses an empty password, missing known_hosts lines and a non-sftp location, naming the field', () => {
    const url = 'sftp://ffk@repo.example//srv/r';
    expect(() => sshSettings(url, { password: '', knownHosts: KNOWN }, dir)).toThrow('the SFTP password is empty');
    expect(() => sshSettings(url, { password: 'x', knownHosts: 'not a key' }, dir)).toThrow('ssh.knownHosts holds no known_hosts line');
    expect(() => sshSettings('/srv/r', { password: 'x', knownHosts: KNOWN }, dir)).toThrow('ssh settings are for sftp: repositories only');
  });
});
