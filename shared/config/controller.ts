/** Controller configuration. Defaults are written here, once. */
import { z } from 'zod';
import { checkSecurity, idSchema, hostPortSchema, logSchema, metricsListenSchema, natsSchema, tlsSchema } from './common.js';
import { loadConfig } from './load.js';

export const CONTROLLER_ENV_PREFIX = 'FFK_CONTROLLER_';
export const DEFAULT_CONTROLLER_GRPC_LISTEN = '127.0.0.1:7700';
/** Prometheus endpoint; on the loopback like the gRPC default (expose it deliberately). */
export const DEFAULT_CONTROLLER_METRICS_LISTEN = '127.0.0.1:9464';
/** Deadlines of calls to agents by kind of operation: a unit start is not a protocol call. */
export const AGENT_DEADLINE_DEFAULTS = { protocolMs: 5_000, prepareMs: 300_000, unitControlMs: 120_000, checkMs: 600_000, transferMs: 24 * 3600_000, agentReturnMs: 300_000 } as const;

/** `ffkeeper ca init` issues the first operator certificate to `admin`: an admin until the config says otherwise. */
export const DEFAULT_OPERATORS = { admin: { role: 'admin' as const } };

/** An sftp: repository's login (shared/repository/restic-ssh.ts). */
const sshSchema = z
  .object({
    /** The repository user's password, or… */
    password: z.string().min(1).optional(),
    /** …its OpenSSH private key file (no passphrase; read by the controller, sent to agents per job). */
    keyFile: z.string().min(1).optional(),
    /** known_hosts lines of the repository server: its host key is checked, never learned. */
    knownHostsFile: z.string().min(1),
  })
  .strict()
  .refine((s) => (s.password === undefined) !== (s.keyFile === undefined), { message: 'give exactly one of password and keyFile' });

/** Where a repository is and how to open it (a site's primary, where agents write, or its secondary). */
const repositorySchema = z.object({
  /** restic URL; for a primary with `maintenance`, the agents' append-only endpoint. */
  url: z.string().min(1),
  /** Default: one the controller generates and keeps in `secretsFile`. */
  password: z.string().min(1).optional(),
  /** Backend environment (e.g. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for s3:). */
  env: z.record(z.string(), z.string()).default({}),
  /** PEM file of the CA that signed a TLS backend's certificate (read here, sent to agents per job). */
  caFile: z.string().min(1).optional(),
  /** An sftp: repository's login: a password or a key file, and the server's known_hosts file (read here). */
  ssh: sshSchema.optional(),
});

export const controllerConfigSchema = z
  .object({
    id: idSchema.default('controller-1'),
    grpc: z
      .object({ listen: hostPortSchema.default(DEFAULT_CONTROLLER_GRPC_LISTEN) })
      .strict()
      .default({ listen: DEFAULT_CONTROLLER_GRPC_LISTEN }),
    nats: natsSchema,
    metrics: z
      .object({ listen: metricsListenSchema.default(DEFAULT_CONTROLLER_METRICS_LISTEN) })
      .strict()
      .default({ listen: DEFAULT_CONTROLLER_METRICS_LISTEN }),
    agents: z
      .object({
        /** Deadlines of the controller's calls to agents, per kind of operation (controller/domain/deadlines.ts). */
        deadlines: z
          .object({
            /** Describe and the cut protocol around the freeze (freeze, cut, thaw, abort). */
            protocolMs: z.number().int().positive().default(AGENT_DEADLINE_DEFAULTS.protocolMs),
            /** Prepare: checks before the freeze lease is armed (repository, tools, databases, a first shield seeding). */
            prepareMs: z.number().int().positive().default(AGENT_DEADLINE_DEFAULTS.prepareMs),
            /** Stopping or starting a unit (findface-security, sf-api, tarantool, pgbouncer). */
            unitControlMs: z.number().int().positive().default(AGENT_DEADLINE_DEFAULTS.unitControlMs),
            /** A site's integrity check; dropping a verify sandbox. */
            checkMs: z.number().int().positive().default(AGENT_DEADLINE_DEFAULTS.checkMs),
            /** One agent's upload, one component's restore, a verify drill. */
            transferMs: z.number().int().positive().default(AGENT_DEADLINE_DEFAULTS.transferMs),
            /** How long a restore's rollback waits for an agent that went away during the switch to come back. */
            agentReturnMs: z.number().int().positive().default(AGENT_DEADLINE_DEFAULTS.agentReturnMs),
          })
          .strict()
          .default(AGENT_DEADLINE_DEFAULTS),
      })
      .strict()
      .default({ deadlines: AGENT_DEADLINE_DEFAULTS }),
    repositories: z
      .object({
        /** Sites without an entry in `sites` get a local repository at `<root>/<site>`. */
        root: z.string().min(1).default('/var/lib/ffkeeper/repositories'),
        /** restic's cache for the controller's own repository work (manifests, catalog, deletes). */
        cacheDir: z.string().min(1).default('/var/cache/ffkeeper/restic'),
        /** Repository passwords the controller generated (JSON, mode 0600). */
        secretsFile: z.string().min(1).default('/var/lib/ffkeeper/secrets.json'),
        /**
         * The key that seals every manifest the controller writes (made on first use, mode 0600); a catalog
         * rebuilt from a repository takes only sealed manifests. Default: `seal.key` next to `secretsFile`.
         * Controllers of one fleet share it.
         */
        sealKeyFile: z.string().min(1).optional(),
        sites: z
          .record(
            idSchema,
            repositorySchema
              .extend({
                /**
                 * The controller's own credentials for the same repository: forget, prune, snapshot delete and
                 * its catalog work run with these, so agents' credentials can be append-only.
                 */
                maintenance: z
                  .object({
                    url: z.string().min(1),
                    env: z.record(z.string(), z.string()).default({}),
                    /** Default: the site's `ssh`. */
                    ssh: sshSchema.optional(),
                  })
                  .strict()
                  .optional(),
                /**
                 * A second repository in another storage location (`ffkeeper snapshot copy`, schedule kind `copy`):
                 * the controller copies sealed snapshots there and prunes it with retention; restore and verify
                 * read it with `--from secondary`. Agents get this access only for such a restore or verify.
                 * Without a password, the controller generates one and keeps it in `secretsFile`.
                 */
                secondary: repositorySchema.strict().optional(),
              })
              .strict(),
          )
          .default({}),
      })
      .strict()
      .default({
        root: '/var/lib/ffkeeper/repositories',
        cacheDir: '/var/cache/ffkeeper/restic',
        secretsFile: '/var/lib/ffkeeper/secrets.json',
        sites: {},
      }),
    snapshots: z
      .object({
        /** Freeze lease each agent arms at prepare: it thaws by itself when the lease runs out. */
        leaseMs: z.number().int().positive().default(5000),
        /**
         * Fault injection for tests and drills only: keep the site frozen this long after the cut before
         * thawing (so a controller crash "during the freeze" can be staged). 0 in production.
         */
        holdFrozenMs: z.number().int().min(0).default(0),
        /**
         * Cuts tried per snapshot when the freeze window could not be held (a lease ran out, a PAUSE or the
         * uploads shield did not settle in time: a host busy for a moment); each failed one is aborted and
         * thawed first. 1 = no retry.
         */
        freezeAttempts: z.number().int().min(1).max(10).default(3),
      })
      .strict()
      .default({ leaseMs: 5000, holdFrozenMs: 0, freezeAttempts: 3 }),
    leases: z
      .object({
        /** A site lease (snapshot, prune, verify) lives this long unless its holder renews it (every third of it). */
        ttlMs: z.number().int().min(1000).default(30_000),
      })
      .strict()
      .default({ ttlMs: 30_000 }),
    schedules: z
      .object({
        /** Run due schedules (turn off on a controller that must only serve the CLI). */
        enabled: z.boolean().default(true),
        /** How often due schedules are looked for. */
        tickMs: z.number().int().min(100).default(1000),
        /** How long a scheduled run waits for the site while another snapshot, prune or verify holds it. */
        waitForSiteMs: z.number().int().min(0).default(30 * 60_000),
      })
      .strict()
      .default({ enabled: true, tickMs: 1000, waitForSiteMs: 30 * 60_000 }),
    log: logSchema,
    /**
     * The audit trail's head (`SEQ:HASH` of the last record this controller appended) is kept in this file
     * on the controller's host, outside NATS, and checked by every `audit verify`: a stream rewritten
     * whole is detected without an anchor kept by hand. Default: `audit-head` next to `repositories.secretsFile`.
     */
    audit: z.object({ headFile: z.string().min(1).optional() }).strict().default({}),
    /**
     * Operators' roles (controller/domain/access/policy.ts), by the name in their certificate: `viewer`,
     * `operator` or `admin`, optionally for some sites only; an operator not listed may call nothing.
     * `scratchSites`: non-production sites an `operator` may restore into.
     */
    access: z
      .object({
        operators: z
          .record(
            z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/, 'an operator name: letters, digits, ".", "_", "-", "@"'),
            z.object({ role: z.enum(['viewer', 'operator', 'admin']), sites: z.array(idSchema).min(1).optional() }).strict(),
          )
          .default(DEFAULT_OPERATORS),
        scratchSites: z.array(idSchema).default([]),
      })
      .strict()
      .default({ operators: DEFAULT_OPERATORS, scratchSites: [] }),
    /**
     * The fleet CA directory (`ffkeeper ca init`) when it is on this host: enables enrolment (join
     * tokens) and revocation, and every agent and operator certificate is checked against its revocations.
     */
    ca: z.object({ dir: z.string().min(1) }).strict().optional(),
    /**
     * The directory holding the fleet's NATS registry (`<dir>/nats/`: users, registered nats-servers), when
     * it is not `ca.dir`: the controller rewrites and reloads those servers' configuration when the sync
     * links change (which sites' agents may read which sites' sync streams). Default: `ca.dir`.
     */
    natsRegistry: z.string().min(1).optional(),
    /** Where agents enrol with a join token (server certificate only; needs `ca`). `advertise`: the address printed with tokens. */
    enrolment: z.object({ listen: hostPortSchema, advertise: hostPortSchema.optional() }).strict().optional(),
    /**
     * The web console (controller/transport/console/): HTTPS on its own address, operators log in with a
     * token (`ffkeeper operators token NAME`). Absent: no console. `cert`/`key`: a certificate browsers
     * trust for this address; default: the controller's own (tls.cert, from the fleet CA).
     */
    console: z.object({ listen: hostPortSchema, cert: z.string().min(1).optional(), key: z.string().min(1).optional() }).strict().optional(),
    /** mTLS: the controller's gRPC server (operators' certificates) and its calls to agents (agents' certificates). */
    tls: tlsSchema.optional(),
    insecure: z.boolean().default(false),
  })
  .strict()
  .superRefine(checkSecurity)
  .superRefine((cfg, ctx) => {
    if (cfg.enrolment && !cfg.ca) ctx.addIssue({ code: 'custom', path: ['enrolment'], message: 'needs ca: {dir} (the fleet CA that signs enrolled agents)' });
    if (cfg.console && !cfg.tls && !cfg.console.cert) ctx.addIssue({ code: 'custom', path: ['console'], message: 'needs HTTPS: tls (the controller certificate) or console.cert and console.key' });
    if (cfg.console && (cfg.console.cert === undefined) !== (cfg.console.key === undefined)) ctx.addIssue({ code: 'custom', path: ['console'], message: 'cert and key go together' });
  });

export type ControllerConfig = z.output<typeof controllerConfigSchema>;

export function loadControllerConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Readonly<ControllerConfig> {
  return loadConfig({ schema: controllerConfigSchema, file, envPrefix: CONTROLLER_ENV_PREFIX, env });
}
