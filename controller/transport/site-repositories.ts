/**
 * SiteRepositories over restic: each site's repository URL comes from config (or `<root>/<site>`),
 * its password from config or the controller's secrets file (generated on first use, mode 0600).
 * The controller creates each repository (restic's init is not safe to run concurrently), through the
 * agents' credentials (an append-only endpoint may create; it may not delete), and does its own work —
 * catalog, forget, prune, delete — through the site's `maintenance` credentials when they are configured.
 * A TLS backend's private CA (`caFile`) is read here and travels with the access.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ControllerConfig } from '../../shared/config/controller.js';
import { ValidationError, describeError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { Repository } from '../../shared/repository/repository.js';
import { resticFromAccess } from '../../shared/repository/restic.js';
import type { RepositoryAccess, SecondaryRepository, SiteRepositories } from '../domain/ports.js';
import type { CredentialSets } from '../domain/repository/qualify.js';
import type { SshAccess } from '../../shared/repository/restic-ssh.js';

type RepoConfig = ControllerConfig['repositories'];

/** An sftp: login from config: the password or the private key, and the known_hosts file's lines. */
function readSsh(site: string, field: string, ssh: { password?: string | undefined; keyFile?: string | undefined; knownHostsFile: string }): SshAccess {
  const read = (what: 'knownHostsFile' | 'keyFile', file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new ValidationError(`repositories.sites.${site}.${field}.${what}: cannot read ${file}: ${describeError(err)}`, { field: `repositories.sites.${site}.${field}.${what}`, cause: err });
    }
  };
  const knownHosts = read('knownHostsFile', ssh.knownHostsFile);
  if (ssh.keyFile !== undefined) return { privateKey: read('keyFile', ssh.keyFile), knownHosts };
  return { password: ssh.password ?? '', knownHosts };
}

/** The CA certificate a site's config names; a ValidationError naming the field and file when unreadable. */
function readCa(site: string, file: string, field = 'caFile'): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ValidationError(`repositories.sites.${site}.${field}: cannot read ${file}: ${describeError(err)}`, { field: `repositories.sites.${site}.${field}`, cause: err });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ValidationError(`repositories.sites.${site}.${field}: ${file} holds no PEM certificate`, { field: `repositories.sites.${site}.${field}` });
  }
  return pem;
}

export class ResticSiteRepositories implements SiteRepositories {
  /** Per site, once: the agents' access and both credential sets (the controller's repositories). */
  private readonly ready = new Map<string, Promise<{ access: RepositoryAccess; sets: CredentialSets }>>();
  /** Per site, once: its secondary repository, created on first use. */
  private readonly secondaries = new Map<string, Promise<SecondaryRepository>>();

  constructor(
    private readonly config: RepoConfig,
    private readonly logger: Logger,
    /**
     * Awaited once when this controller created a configured site's repository, before anyone gets access
     * to it (storage qualification: nothing else uses the repository meanwhile). Not for default local ones.
     */
    private readonly onCreated?: (site: string, sets: CredentialSets) => Promise<void>,
  ) {}

  private prepared(site: string): Promise<{ access: RepositoryAccess; sets: CredentialSets }> {
    let p = this.ready.get(site);
    if (!p) {
      p = this.prepare(site);
      this.ready.set(site, p);
      p.catch(() => this.ready.delete(site));
    }
    return p;
  }

  async access(site: string): Promise<RepositoryAccess> {
    return (await this.prepared(site)).access;
  }

  async open(site: string): Promise<Repository> {
    return (await this.prepared(site)).sets.maintenance;
  }

  async credentialSets(site: string): Promise<CredentialSets> {
    return (await this.prepared(site)).sets;
  }

  secondary(site: string): Promise<SecondaryRepository | undefined> {
    const configured = this.config.sites[site]?.secondary;
    if (!configured) return Promise.resolve(undefined);
    let p = this.secondaries.get(site);
    if (!p) {
      const access: RepositoryAccess = {
        url: configured.url,
        password: configured.password ?? this.secret(`${site}/secondary`),
        env: configured.env,
        ...(configured.caFile ? { caCert: readCa(site, configured.caFile, 'secondary.caFile') } : {}),
        ...(configured.ssh ? { ssh: readSsh(site, 'secondary.ssh', configured.ssh) } : {}),
      };
      const repository = this.repository(access);
      p = repository.ensureInitialized().then(({ created }) => {
        if (created) this.logger.info({ site, url: repository.displayUrl }, 'created the site\'s secondary repository');
        return { access, repository };
      });
      this.secondaries.set(site, p);
      p.catch(() => this.secondaries.delete(site));
    }
    return p;
  }

  private setsFor(site: string, access: RepositoryAccess): CredentialSets {
    const maintenance = this.config.sites[site]?.maintenance;
    const agent = this.repository(access);
    if (!maintenance) return { agent, maintenance: agent, separate: false };
    const ssh = maintenance.ssh ? readSsh(site, 'maintenance.ssh', maintenance.ssh) : access.ssh;
    return { agent, maintenance: this.repository({ ...access, url: maintenance.url, env: maintenance.env, ...(ssh ? { ssh } : {}) }), separate: true };
  }

  private repository(access: RepositoryAccess): Repository {
    return resticFromAccess(access, { cacheDir: this.config.cacheDir, logger: this.logger });
  }

  private async prepare(site: string): Promise<{ access: RepositoryAccess; sets: CredentialSets }> {
    const configured = this.config.sites[site];
    const url = configured?.url ?? path.join(this.config.root, site);
    const password = configured?.password ?? this.secret(site);
    const access: RepositoryAccess = {
      url,
      password,
      env: configured?.env ?? {},
      ...(configured?.caFile ? { caCert: readCa(site, configured.caFile) } : {}),
      ...(configured?.ssh ? { ssh: readSsh(site, 'ssh', configured.ssh) } : {}),
    };
    if (!configured) mkdirSync(this.config.root, { recursive: true });
    const sets = this.setsFor(site, access);
    const { created } = await sets.agent.ensureInitialized();
    if (created) {
      this.logger.info({ site, url: sets.agent.displayUrl }, 'created the site repository');
      if (configured && this.onCreated) await this.onCreated(site, sets);
    }
    return { access, sets };
  }

  /** The site's generated password, creating and persisting one on first use. */
  private secret(site: string): string {
    const file = this.config.secretsFile;
    let secrets: Record<string, string> = {};
    if (existsSync(file)) {
      try {
        secrets = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
      } catch (err) {
        throw new ValidationError(`secrets file ${file} is not valid JSON`, { cause: err });
      }
    }
    const known = secrets[site];
    if (known) return known;
    const password = randomBytes(24).toString('base64url');
    secrets[site] = password;
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(secrets, null, 2), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
    return password;
  }
}
