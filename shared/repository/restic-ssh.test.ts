import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { SSH_KEY_ENV, SSH_PASSWORD_ENV, sftpEndpoint, sshSettings } from './restic-ssh.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-ssh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** A made-up key in OpenSSH's format (never a real login). */
const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACBmYWtlZmFrZWZha2VmYWtlZmFrZWZha2VmYWtlZmFrZWZha2UAAAA=\n-----END OPENSSH PRIVATE KEY-----\n';
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

  it('with a key: no secret in the ssh command or the wrapper; the key travels in the environment for an ssh-agent of the session', () => {
    const s = sshSettings('sftp://ffk@repo.example:2222//srv/restic/msk-1', { privateKey: KEY, knownHosts: KNOWN }, dir);
    expect(s.args[1]).toMatch(/^sftp\.command=\S+\/ffk-ssh-key-[0-9a-f]+ .* -o PreferredAuthentications=publickey -o PasswordAuthentication=no -o IdentityFile=none -p 2222 ffk@repo\.example -s sftp$/);
    expect(s.args.join(' ')).not.toContain('b3BlbnNzaC1rZXktdjE');
    expect(s.env).toEqual({ [SSH_KEY_ENV]: KEY.trim() });
    expect(s.secrets).toContain(KEY.trim());
    expect(s.secrets).toContain('b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW');
    const wrapper = /sftp\.command=(\S+)/.exec(s.args[1] as string)?.[1] as string;
    const script = readFileSync(wrapper, 'utf8');
    expect(script).toContain('exec ssh-agent sh -c');
    expect(script).not.toContain('b3BlbnNzaC1rZXktdjE');
  });

  it('refuses an empty password, missing known_hosts lines and a non-sftp location, naming the field', () => {
    const url = 'sftp://ffk@repo.example//srv/r';
    expect(() => sshSettings(url, { password: '', knownHosts: KNOWN }, dir)).toThrow('an SFTP login needs exactly one of a password and a private key');
    expect(() => sshSettings(url, { password: 'x', privateKey: KEY, knownHosts: KNOWN }, dir)).toThrow('exactly one of a password and a private key');
    expect(() => sshSettings(url, { privateKey: 'not a key', knownHosts: KNOWN }, dir)).toThrow('ssh.privateKey is not a PEM private key');
    expect(() => sshSettings(url, { password: 'x', knownHosts: 'not a key' }, dir)).toThrow('ssh.knownHosts holds no known_hosts line');
    expect(() => sshSettings('/srv/r', { password: 'x', knownHosts: KNOWN }, dir)).toThrow('ssh settings are for sftp: repositories only');
  });
});
