/** Config pieces shared by the agent and the controller schemas. Defaults are written here, once. */
import { ID_PATTERN } from '../ids.js';
import { z } from 'zod';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
/** JetStream replicas of what ffkeeper creates when `nats.replicas` is not set: a single server's. */
export const DEFAULT_NATS_REPLICAS = 1;

/** `host:port`; port 0 means "let the OS pick" (the bound port is then advertised). */
export const hostPortSchema = z
  .string()
  .regex(/^[^\s:]+:\d{1,5}$/, 'must be "host:port"')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535');

/**
 * Where the Prometheus endpoint (`GET /metrics`) listens: `host:port` (port 0 = any free port, logged at
 * start-up), or `''` to serve no metrics.
 */
export const metricsListenSchema = z.union([z.literal(''), hostPortSchema]);

export const natsSchema = z
  .object({
    servers: z.array(z.string().min(1)).min(1).default([DEFAULT_NATS_URL]),
    user: z.string().optional(),
    pass: z.string().optional(),
    token: z.string().optional(),
    /** This process's nkey seed file (0600; `ffkeeper ca init` / `ca issue` write it as `nats.nk`). Required unless `insecure: true`. */
    seedFile: z.string().min(1).optional(),
    /** Name this connection shows in the server's monitoring. */
    name: z.string().optional(),
    /**
     * JetStream replicas of every stream and KV bucket this process creates: 1 on a single server, 3 on a
     * 3-node cluster (each survives the loss of one node). Existing ones keep theirs.
     */
    replicas: z.number().int().min(1).max(5).optional(),
  })
  .strict()
  .default({ servers: [DEFAULT_NATS_URL] });

export type NatsConfig = z.output<typeof natsSchema>;

export const logSchema = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict()
  .default({ level: 'info' });

/** A site or host id in a config file (shared/ids.ts). */
export const idSchema = z
  .string()
  .regex(ID_PATTERN, 'must be 1-63 letters, digits, "-" or "_", starting with a letter or digit');

/** The fleet CA, this process's certificate and its key (PEM files; the key 0600). */
export const tlsSchema = z
  .object({ ca: z.string().min(1), cert: z.string().min(1), key: z.string().min(1) })
  .strict();

/** `tls` is required unless `insecure: true` (a lab switch: plaintext, unauthenticated; warned at every start). */
export function checkSecurity(cfg: { tls?: unknown; insecure: boolean; nats: NatsConfig }, ctx: z.RefinementCtx): void {
  if (!cfg.insecure && cfg.nats.seedFile === undefined) {
    ctx.addIssue({ code: 'custom', path: ['nats', 'seedFile'], message: 'required: this process\'s NATS nkey seed (nats.nk, written by ffkeeper ca init / ca issue); or insecure: true for a lab' });
  }
  if (cfg.tls && cfg.insecure) ctx.addIssue({ code: 'custom', path: ['insecure'], message: 'insecure: true and tls exclude each other' });
  if (!cfg.tls && !cfg.insecure) {
    ctx.addIssue({
      code: 'custom',
      path: ['tls'],
      message: 'required: {ca, cert, key} files of the fleet CA (ffkeeper ca init, ffkeeper ca issue); or insecure: true for a lab (plaintext, unauthenticated)',
    });
  }
}
