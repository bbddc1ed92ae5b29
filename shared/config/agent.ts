/**
 * Agent configuration: which site and host it is, how to reach NATS, where it serves gRPC, and the
 * FindFace components on its host. Defaults are FindFace's own (paths, ports, unit names).
 */
import { z } from 'zod';
import { checkSecurity, idSchema, hostPortSchema, logSchema, metricsListenSchema, natsSchema, tlsSchema } from './common.js';
import { loadConfig } from './load.js';

export const AGENT_ENV_PREFIX = 'FFK_AGENT_';
export const DEFAULT_AGENT_GRPC_LISTEN = '0.0.0.0:7701';
/** Prometheus endpoint; on every interface like the gRPC default, so a central Prometheus can scrape each host. */
export const DEFAULT_AGENT_METRICS_LISTEN = '0.0.0.0:9465';
export const DEFAULT_HEARTBEAT_SECONDS = 5;
export const DEFAULT_PRESENCE_TTL_SECONDS = 15;

const componentName = idSchema;

/** The ffsecurity PostgreSQL database (reached directly for the cut) and the pgbouncer in front of it. */
export const postgresComponentSchema = z
  .object({
    kind: z.literal('postgres'),
    name: componentName.default('ffsecurity'),
    database: z.string().min(1).default('ffsecurity'),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(5432),
    user: z.string().min(1).default('postgres'),
    password: z.string().optional(),
    /** Owner of the database when it is re-created on restore. */
    owner: z.string().min(1).default('ntech'),
    pgbouncer: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(1).max(65535).default(6432),
        adminUser: z.string().min(1).default('postgres'),
        adminPassword: z.string().optional(),
        /** Database name as pgbouncer knows it (what `PAUSE <db>` names). */
        database: z.string().min(1).optional(),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 6432, adminUser: 'postgres' }),
    units: z
      .object({
        app: z.string().min(1).default('findface-security'),
        pgbouncer: z.string().min(1).default('pgbouncer'),
      })
      .strict()
      .default({ app: 'findface-security', pgbouncer: 'pgbouncer' }),
  })
  .strict();

/** One Tarantool shard instance holding FindFace galleries. */
export const tarantoolComponentSchema = z
  .object({
    kind: z.literal('tarantool'),
    name: componentName,
    host: z.string().min(1).default('127.0.0.1'),
    /** iproto `listen` port (FindFace default 32001 for shard-001). */
    port: z.number().int().min(1).max(65535),
    /** HTTP port from `FindFace.start` (FindFace default 8101 for shard-001). */
    httpPort: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    memtxDir: z.string().min(1),
    walDir: z.string().min(1),
    vinylDir: z.string().min(1).optional(),
    unit: z.string().min(1),
    /**
     * The shard's instance file (`/etc/tarantool/instances.available/shard-001.lua`, the default when
     * unset): a model migration copies it for the new shard.
     */
    instanceFile: z.string().min(1).optional(),
    /**
     * Lua file a verify drill's scratch instance runs after `box.cfg` (the procedures the site's
     * integrity check calls; FindFace's instance file minus `FindFace.start`). None: box.cfg only.
     */
    sandboxInitLua: z.string().min(1).optional(),
  })
  .strict();

/** Upload directories (dossier photos, full frames, thumbnails; normalized images). */
export const uploadsComponentSchema = z
  .object({
    kind: z.literal('uploads'),
    name: componentName.default('uploads'),
    paths: z.array(z.string().min(1)).min(1).default(['/var/lib/findface-security/uploads', '/var/lib/ffupload']),
  })
  .strict();

/** findface-sf-api: its config lists the shards (`storage-api.shards[].master`). */
export const sfApiComponentSchema = z
  .object({
    kind: z.literal('sf-api'),
    name: componentName.default('sf-api'),
    configPath: z.string().min(1).default('/etc/findface-sf-api.ini'),
    unit: z.string().min(1).default('findface-sf-api'),
  })
  .strict();

export const componentSchema = z.discriminatedUnion('kind', [
  postgresComponentSchema,
  tarantoolComponentSchema,
  uploadsComponentSchema,
  sfApiComponentSchema,
]);

export type ComponentConfig = z.output<typeof componentSchema>;
export type ComponentKind = ComponentConfig['kind'];
export const COMPONENT_KINDS: readonly ComponentKind[] = ['postgres', 'tarantool', 'uploads', 'sf-api'];

/** `systemctl start` of a real FindFace unit routinely takes longer than a few seconds. */
export const DEFAULT_UNIT_TIMEOUT_MS = 120_000;

export const agentConfigSchema = z
  .object({
    site: idSchema,
    host: idSchema,
    grpc: z
      .object({
        listen: hostPortSchema.default(DEFAULT_AGENT_GRPC_LISTEN),
        /** Address the controller dials; defaults to the bound address (or the host name when bound to 0.0.0.0). */
        advertise: hostPortSchema.optional(),
      })
      .strict()
      .default({ listen: DEFAULT_AGENT_GRPC_LISTEN }),
    nats: natsSchema,
    metrics: z
      .object({ listen: metricsListenSchema.default(DEFAULT_AGENT_METRICS_LISTEN) })
      .strict()
      .default({ listen: DEFAULT_AGENT_METRICS_LISTEN }),
    presence: z
      .object({
        heartbeatSeconds: z.number().positive().default(DEFAULT_HEARTBEAT_SECONDS),
        ttlSeconds: z.number().positive().default(DEFAULT_PRESENCE_TTL_SECONDS),
      })
      .strict()
      .refine((p) => p.ttlSeconds > p.heartbeatSeconds, {
        message: 'ttlSeconds must be greater than heartbeatSeconds',
        path: ['ttlSeconds'],
      })
      .default({ heartbeatSeconds: DEFAULT_HEARTBEAT_SECONDS, ttlSeconds: DEFAULT_PRESENCE_TTL_SECONDS }),
    /**
     * findface-security on this host, for FindFace's native master/slave sync (`sync link --mode
     * native`): its configuration file (`/etc/ffsecurity/config.py`), the URL of its API as this host
     * reaches it, and its unit (restarted when the agent changes a sync setting).
     */
    findfaceSecurity: z
      .object({
        configPath: z.string().min(1).default('/etc/ffsecurity/config.py'),
        url: z.string().url(),
        unit: z.string().min(1).default('findface-security'),
      })
      .strict()
      .optional(),
    /**
     * findface-extraction-api on this host, for model migrations: its configuration file (the model of
     * each kind, `models_root`) and its unit (restarted when a migration switches the model).
     */
    extractionApi: z
      .object({
        configPath: z.string().min(1).default('/etc/findface-extraction-api.ini'),
        unit: z.string().min(1).default('findface-extraction-api'),
      })
      .strict()
      .optional(),
    /** Where the agent keeps caches (restic's index cache); created when missing. */
    cacheDir: z.string().min(1).default('/var/cache/ffkeeper'),
    /**
     * The site's integrity check, run after a restore: a command printing JSON with `errors`, `warnings`
     * (numbers) and optionally `ok`; non-zero exit with such JSON means "errors found", not "failed to run".
     */
    integrityCheck: z
      .object({
        command: z.array(z.string().min(1)).min(1),
        timeoutMs: z.number().int().positive().default(600_000),
      })
      .strict()
      .optional(),
    /** Unit control (`systemctl start|stop`): how long one may take before it is a failure naming the unit. */
    units: z
      .object({ timeoutMs: z.number().int().positive().default(DEFAULT_UNIT_TIMEOUT_MS) })
      .strict()
      .default({ timeoutMs: DEFAULT_UNIT_TIMEOUT_MS }),
    /** Extra directories put first on PATH for commands the agent runs (e.g. the dev site's shims). */
    pathPrepend: z.array(z.string().min(1)).default([]),
    log: logSchema,
    components: z.array(componentSchema).default([]),
    /**
     * Watch-list sync. `files.listen`: where the direct files channel listens — TLS with this agent's
     * certificate, serving a master list's photos in bulk to the files agents of its linked slave sites
     * (their fleet certificates); default: the gRPC listen host, any free port; '' turns it off (the
     * files go over NATS, as they do in `insecure` mode or when a slave cannot reach it). `files.advertise`:
     * the host slaves dial (default: the gRPC advertised host, else the listen host, else the host name).
     */
    sync: z
      .object({
        files: z
          .object({ listen: z.union([z.literal(''), hostPortSchema]).optional(), advertise: z.string().min(1).optional() })
          .strict()
          .default({}),
      })
      .strict()
      .default({ files: {} }),
    /** mTLS of the agent's gRPC server: only the controller's certificate may call it. */
    tls: tlsSchema.optional(),
    insecure: z.boolean().default(false),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    checkSecurity(cfg, ctx);
    const seen = new Set<string>();
    cfg.components.forEach((c, i) => {
      const key = `${c.kind}:${c.name}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['components', i, 'name'], message: `duplicate component ${key}` });
      seen.add(key);
    });
  });

export type AgentConfig = z.output<typeof agentConfigSchema>;

/** Loads the agent config from `file` (YAML/JSON) and `FFK_AGENT_*` variables. */
export function loadAgentConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Readonly<AgentConfig> {
  return loadConfig({ schema: agentConfigSchema, file, envPrefix: AGENT_ENV_PREFIX, env });
}
