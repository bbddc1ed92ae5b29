/**
 * SiteRepositories over restic: each site's repository URL comes from config (or `<root>/<site>`),
 * its password from config or the controller's secrets file (generated on first use, mode 0600).
 * The controller creates each repository (restic's init is not safe to run concurrently).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ControllerConfig } from '../../shared/config/controller.js';
import { ValidationError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { Repository } from '../../shared/repository/repository.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import type { RepositoryAccess, SiteRepositories } from '../domain/ports.js';

type RepoConfig = ControllerConfig['repositories'];

export class ResticSiteRepositories implements SiteRepositories {
  private readonly ready = new Map<string, Promise<RepositoryAccess>>();

  constructor(
    private readonly config: RepoConfig,
    private readonly logger: Logger,
  ) {}

  access(site: string): Promise<RepositoryAccess> {
    let p = this.ready.get(site);
    if (!p) {
      p = this.prepare(site);
      this.ready.set(site, p);
      p.catch(() => this.ready.delete(site));
    }
    return p;
  }

  async open(site: string): Promise<Repository> {
    return this.repository(await this.access(site));
  }

  private repository(access: RepositoryAccess): Repository {
    return new ResticRepository({
      url: access.url,
      password: access.password,
      extraEnv: access.env,
      cacheDir: this.config.cacheDir,
      logger: this.logger,
    });
  }

  private async prepare(site: string): Promise<RepositoryAccess> {
    const configured = this.config.sites[site];
    const url = configured?.url ?? path.join(this.config.root, site);
    const password = configured?.password ?? this.secret(site);
    const access: RepositoryAccess = { url, password, env: configured?.env ?? {} };
    if (!configured) mkdirSync(this.config.root, { recursive: true });
    const { created } = await this.repository(access).ensureInitialized();
    if (created) this.logger.info({ site, url }, 'created the site repository');
    return access;
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
