/**
 * What each fleet member may publish and subscribe to on NATS (issue 16), and the nats-server
 * configuration that enforces it. Every principal connects with its own nkey (`shared/security/nats-users.ts`);
 * the server knows only public keys.
 *
 * - The controller may use every subject (it owns the fleet, the catalog, jobs, leases, schedules, audit).
 * - An agent `<site>/<host>` may: write and delete its own presence key; publish its own site's sync
 *   subjects and keep its own site's sync stream; read the records of the sync links its site is part
 *   of; read the statuses of those links and write its own host's; read (never write) the sync streams
 *   of the sites its site has a sync link from (`syncSources`, granted by the controller from the links:
 *   a slave follows its master's published watch lists) — no other site's — and ask those sites for the
 *   files their lists name; answer requests for its own site's files; and receive only on its own
 *   inbox prefix. It cannot read or write another site's keys, the catalog, the jobs, the leases, the
 *   schedules, the audit stream or another agent's replies.
 */
import { AGENTS_BUCKET, AGENT_UNREADABLE_BUCKETS, AGENT_UNREADABLE_JS_STREAMS, SYNC_LINKS_BUCKET, SYNC_STATUS_BUCKET, agentKey, syncFilesFilter, syncLinkKeyFilters, syncStream, syncStreamSubjects } from '../names.js';
import type { PeerIdentity } from './identity.js';

export interface NatsPermissions {
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[]; deny?: string[] };
  /** May answer the requests it receives (publish once to each request's reply subject). */
  allowResponses?: boolean;
}

/** The inbox prefix a principal uses (nats.js `inboxPrefix`), so replies to it are its alone. */
export function natsInboxPrefix(identity: PeerIdentity): string {
  switch (identity.kind) {
    case 'agent':
      return `_INBOX_ffk.agent.${identity.site}.${identity.host}`;
    case 'controller':
      return `_INBOX_ffk.controller.${identity.id}`;
    case 'operator':
      return `_INBOX_ffk.operator.${identity.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  }
}

const kvStream = (bucket: string): string => `KV_${bucket}`;

/**
 * The JetStream API subjects that read a stream: info, consumers (ordered, ephemeral), direct and stored
 * gets, flow control. A stream name is one subject token, so "the streams of my masters" cannot be a
 * wildcard: each one is listed (the configuration is regenerated when the links change).
 */
function readStream(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.DELETE.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.FC.${stream}.>`,
  ];
}

/**
 * Reading only the keys of a KV bucket that match `keys`: consumers and direct gets whose API subject
 * names such a subject (nats-server 2.9 puts a consumer's filter and a get's subject in the API subject;
 * a consumer without a filter, or a get by JSON body, names none and is refused).
 */
function readKeys(bucket: string, keys: readonly string[]): string[] {
  const stream = kvStream(bucket);
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    ...keys.flatMap((k) => [`$JS.API.CONSUMER.CREATE.${stream}.*.$KV.${bucket}.${k}`, `$JS.API.DIRECT.GET.${stream}.$KV.${bucket}.${k}`]),
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.DELETE.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.FC.${stream}.>`,
  ];
}

/** Streams no agent may read (deny wins over allow in nats-server). */
export const AGENT_UNREADABLE_STREAMS = [...AGENT_UNREADABLE_BUCKETS.map(kvStream), ...AGENT_UNREADABLE_JS_STREAMS];

/** Creating a stream or bucket that is missing (its settings are fixed by ffkeeper's code) and reading its state. */
function keepStream(stream: string): string[] {
  return [`$JS.API.STREAM.INFO.${stream}`, `$JS.API.STREAM.CREATE.${stream}`, `$JS.API.STREAM.UPDATE.${stream}`];
}

export function natsPermissions(identity: PeerIdentity, grants: { syncSources?: readonly string[] } = {}): NatsPermissions {
  if (identity.kind !== 'agent') {
    if (identity.kind === 'controller') return { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } };
    // Operators reach the fleet through the controller only. An empty allow list means "no restriction"
    // to nats-server, so nothing is said by denying everything.
    return { publish: { allow: [], deny: ['>'] }, subscribe: { allow: [], deny: ['>'] } };
  }
  const { site, host } = identity;
  // Defence in depth (nothing allowed matches them): the presence bucket's state it must see to open it.
  const readDenied = AGENT_UNREADABLE_STREAMS.flatMap(readStream).filter((s) => s !== `$JS.API.STREAM.INFO.${kvStream(AGENTS_BUCKET)}`);
  const sources = [...new Set(grants.syncSources ?? [])].filter((m) => m !== site).sort();
  return {
    publish: {
      allow: [
        '$JS.API.INFO',
        // the records and statuses of the links its site is part of
        ...readKeys(SYNC_LINKS_BUCKET, syncLinkKeyFilters(site)),
        ...readKeys(SYNC_STATUS_BUCKET, syncLinkKeyFilters(site)),
        ...readStream(syncStream(site)),
        // the sync streams of the sites its site has a link from
        ...sources.flatMap((m) => readStream(syncStream(m))),
        // and ask those sites for the files their lists name
        ...sources.map(syncFilesFilter),
        // presence: its own key only (the bucket itself it may create when missing)
        ...keepStream(kvStream(AGENTS_BUCKET)),
        `$KV.${AGENTS_BUCKET}.${agentKey(site, host)}`,
        // its own site's sync stream
        ...keepStream(syncStream(site)),
        syncStreamSubjects(site),
        ...keepStream(kvStream(SYNC_LINKS_BUCKET)),
        // statuses of its site's links (key `<from.site>.<from.list>.<to.site>.<to.list>.<role>.<host>`), its own host's
        ...keepStream(kvStream(SYNC_STATUS_BUCKET)),
        `$KV.${SYNC_STATUS_BUCKET}.${site}.*.*.*.*.${host}`,
        `$KV.${SYNC_STATUS_BUCKET}.*.*.${site}.*.*.${host}`,
      ],
      deny: readDenied,
    },
    // its inbox, and the requests for its own site's files (answered once each: allowResponses)
    subscribe: { allow: [`${natsInboxPrefix(identity)}.>`, syncFilesFilter(site)] },
    allowResponses: true,
  };
}

const quote = (s: string): string => JSON.stringify(s);

export interface NatsServerConfigOptions {
  /** `host:port` clients connect to. */
  listen: string;
  /** JetStream's store directory. */
  storeDir: string;
  /** `host:port` of the monitoring endpoint (used to see a reload take effect); omitted: none. */
  monitor?: string;
  /** Every principal the server accepts, by public nkey. */
  users: Array<{ identity: PeerIdentity; publicKey: string }>;
  /** Slave site → the master sites whose sync streams its agents may read (from the sync links). */
  syncReads?: Record<string, readonly string[]>;
  /** This server as a node of a cluster: its name, where routes connect, the other nodes' route addresses. */
  cluster?: NatsClusterNode;
}

/** One node of a nats-server cluster (JetStream needs each node named). */
export interface NatsClusterNode {
  /** The node's `server_name` (unique in the cluster). */
  serverName: string;
  /** The cluster's name (the same on every node). */
  name: string;
  /** `host:port` the node's routes listen on. */
  listen: string;
  /** `host:port` of the other nodes' route listeners. */
  routes: string[];
  /** The routes' shared secret (user `ffk-route`): a node without it cannot join. */
  secret: string;
}

/** The user nodes of an ffkeeper-configured cluster authenticate their routes as. */
export const NATS_ROUTE_USER = 'ffk-route';

function clusterLines(c: NatsClusterNode): string[] {
  const secret = encodeURIComponent(c.secret);
  return [
    `server_name: ${quote(c.serverName)}`,
    'cluster: {',
    `  name: ${quote(c.name)}`,
    `  listen: ${quote(c.listen)}`,
    `  authorization: { user: ${quote(NATS_ROUTE_USER)}, password: ${quote(c.secret)} }`,
    `  routes: [${c.routes.map((r) => quote(`nats-route://${NATS_ROUTE_USER}:${secret}@${r}`)).join(', ')}]`,
    '}',
  ];
}

/** A nats-server (2.9) configuration file: JetStream on, each user an nkey with its permissions. */
export function natsServerConfig(o: NatsServerConfigOptions): string {
  const [host, port] = [o.listen.slice(0, o.listen.lastIndexOf(':')), o.listen.slice(o.listen.lastIndexOf(':') + 1)];
  const lines = [
    '# Generated by ffkeeper (ffkeeper nats-config); regenerated on enrol and revoke — do not edit.',
    `host: ${quote(host)}`,
    `port: ${port}`,
    ...(o.monitor ? [`http: ${quote(o.monitor)}`] : []),
    `jetstream: { store_dir: ${quote(o.storeDir)} }`,
    ...(o.cluster ? clusterLines(o.cluster) : []),
    'authorization: {',
    '  users: [',
  ];
  for (const u of o.users) {
    const p = natsPermissions(u.identity, u.identity.kind === 'agent' ? { syncSources: o.syncReads?.[u.identity.site] ?? [] } : {});
    const list = (xs: string[]): string => `[${xs.map(quote).join(', ')}]`;
    lines.push(`    # ${u.identity.kind === 'agent' ? `agent ${u.identity.site}/${u.identity.host}` : u.identity.kind}`);
    const rules = (r: { allow: string[]; deny?: string[] }): string =>
      [...(r.allow.length ? [`allow: ${list(r.allow)}`] : []), ...(r.deny?.length ? [`deny: ${list(r.deny)}`] : [])].join(', ');
    lines.push(`    { nkey: ${quote(u.publicKey)}, permissions: { publish: { ${rules(p.publish)} }, subscribe: { ${rules(p.subscribe)} }${p.allowResponses ? ', allow_responses: true' : ''} } }`);
  }
  lines.push('  ]', '}', '');
  return lines.join('\n');
}
