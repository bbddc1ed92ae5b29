/**
 * The audit trail (DESIGN.md §12): every mutating call to the controller — who, from where, which method,
 * which sites, its arguments (secrets removed) and its outcome, denied calls included — appended to a
 * stream in order, each record hash-chained to the one before (`hash = sha256(prev + record)`), so a
 * record removed or changed is found by `verifyChain`, which names it. Pure; the stream is a port.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../../../shared/errors.js';

export type AuditOutcome = 'ok' | 'denied' | 'failed';

export interface AuditRecord {
  at: string;
  /** `operator alice` (the certificate's identity), or `unauthenticated`. */
  who: string;
  /** The caller's address. */
  from: string;
  method: string;
  sites: string[];
  args: Record<string, unknown>;
  outcome: AuditOutcome;
  /** denied / failed: the error code and message. */
  code?: string;
  message?: string;
}

export interface AuditEntry extends AuditRecord {
  /** Position in the stream (1, 2, …). */
  seq: number;
  prev: string;
  hash: string;
}

/** The chain's start: the `prev` of the first record. */
export const GENESIS = '0'.repeat(64);

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const RECORD_FIELDS: readonly (keyof AuditRecord)[] = ['at', 'who', 'from', 'method', 'sites', 'args', 'outcome', 'code', 'message'];

export function recordOf(entry: AuditRecord): AuditRecord {
  return Object.fromEntries(RECORD_FIELDS.filter((k) => entry[k] !== undefined).map((k) => [k, entry[k]])) as unknown as AuditRecord;
}

export function chainHash(prev: string, record: AuditRecord): string {
  return createHash('sha256').update(`${prev}\n${canonical(recordOf(record))}`).digest('hex');
}

const SECRET_KEY = /pass(word)?|secret|token|key|credential/i;
const MAX_STRING = 512;

/** A request's arguments for the record: fields named like secrets dropped, long strings cut, empty values omitted. */
export function auditArgs(req: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(req)) {
    if (SECRET_KEY.test(k) || v === undefined || v === '' || v === null) continue;
    if (typeof v === 'string') out[k] = v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}…` : v;
    else if (v instanceof Date) out[k] = v.toISOString();
    else if (typeof v === 'object' && !Array.isArray(v)) out[k] = auditArgs(v as Record<string, unknown>);
    else out[k] = v;
  }
  return out;
}

export interface ChainReport {
  records: number;
  /** Each broken link, naming the record (seq, time, who, method). */
  problems: string[];
  /**
   * The last record's sequence and hash: kept outside the stream (a ticket, a log, another system), it is
   * an anchor a later `audit verify --anchor SEQ:HASH` checks, so a trail rewritten from its first record on
   * is detected too. Absent when the trail is empty.
   */
  head?: AuditAnchor;
  /** The head the controller kept outside the stream (audit.headFile), checked like an anchor. */
  keptHead?: AuditAnchor;
}

/** A record's sequence number and hash as seen at some time (`SEQ:HASH`). */
export interface AuditAnchor {
  seq: number;
  hash: string;
}

/** Parses `SEQ:HASH` (64 hex digits); undefined when it is not of that shape. */
export function parseAnchor(text: string): AuditAnchor | undefined {
  const m = /^([1-9][0-9]{0,15}):([0-9a-f]{64})$/.exec(text.trim());
  return m ? { seq: Number(m[1]), hash: m[2] as string } : undefined;
}

export const formatAnchor = (a: AuditAnchor): string => `${a.seq}:${a.hash}`;

/** `parseAnchor`, or a ValidationError naming `label` and the expected form. */
export function checkAnchor(text: string, label = 'anchor'): AuditAnchor {
  const a = parseAnchor(text);
  if (!a) throw new ValidationError(`${label} '${text}' is not SEQ:HASH (a record number and its 64-hex-digit hash, as audit verify prints)`, { field: 'anchor' });
  return a;
}

const name = (e: AuditEntry): string => `record #${e.seq} (${e.at}, ${e.who}, ${e.method})`;

/**
 * Checks a whole stream, in order: every sequence number present from `firstSeq`, each record's hash
 * over its content, each `prev` equal to the hash before. Every problem is reported, each naming its record.
 */
export function verifyChain(entries: readonly AuditEntry[], firstSeq = 1, anchors: readonly AuditAnchor[] = []): ChainReport {
  const problems: string[] = [];
  let prev = GENESIS;
  let expectSeq = firstSeq;
  for (const e of entries) {
    if (e.seq !== expectSeq) problems.push(`records #${expectSeq}${e.seq - 1 > expectSeq ? `–#${e.seq - 1}` : ''} are missing before ${name(e)}: removed from the stream`);
    if (chainHash(e.prev, e) !== e.hash) problems.push(`${name(e)} was changed: its content does not match its hash`);
    if (e.prev !== prev && e.seq === expectSeq) problems.push(`${name(e)} does not follow the record before it (its prev hash differs): it was inserted or the one before was changed`);
    prev = e.hash;
    expectSeq = e.seq + 1;
  }
  problems.push(...anchorProblems(entries, anchors));
  const last = entries.at(-1);
  return { records: entries.length, problems, ...(last ? { head: { seq: last.seq, hash: last.hash } } : {}) };
}

/**
 * An anchor taken earlier must still match: a chain rewritten whole (every hash recomputed) does not, and
 * since each hash covers every record before it, an anchor vouches for the whole trail up to it. `label`
 * names where the anchors come from in each problem (`<record> #N is not in the stream`, `not <hash> …`).
 */
export function anchorProblems(entries: readonly AuditEntry[], anchors: readonly AuditAnchor[], label = { record: 'anchored record', hash: 'the anchored' }): string[] {
  const bySeq = new Map(entries.map((e) => [e.seq, e] as const));
  const problems: string[] = [];
  for (const a of anchors) {
    const e = bySeq.get(a.seq);
    if (!e) problems.push(`${label.record} #${a.seq} is not in the stream (${entries.length === 0 ? 'the trail is empty' : `it holds #${entries[0]?.seq}–#${entries.at(-1)?.seq}`}): removed`);
    else if (e.hash !== a.hash) problems.push(`${name(e)} has hash ${e.hash.slice(0, 16)}…, not ${label.hash} ${a.hash.slice(0, 16)}…: the trail was rewritten up to it`);
  }
  return problems;
}

/** Where audit records are kept (controller/transport/nats-audit.ts: a JetStream stream). */
export interface AuditLog {
  /** Appends a record after the last one (chained to it); resolves with the stored entry. */
  append(record: AuditRecord): Promise<AuditEntry>;
  /** Every record, in stream order, and the stream's first sequence number. */
  entries(): Promise<{ entries: AuditEntry[]; firstSeq: number }>;
}

export interface AuditFilter {
  site?: string;
  since?: Date;
  limit?: number;
}

/** Records matching `filter`, oldest first (the newest `limit` of them). */
export function filterEntries(entries: readonly AuditEntry[], filter: AuditFilter): AuditEntry[] {
  const out = entries.filter((e) => (!filter.site || e.sites.includes(filter.site)) && (!filter.since || Date.parse(e.at) >= filter.since.getTime()));
  return filter.limit ? out.slice(-filter.limit) : out;
}

/**
 * Where the controller keeps the trail's head outside the stream (controller/transport/audit-head-file.ts:
 * a file on the controller's host), so that someone able to rewrite the stream — with NATS credentials,
 * not the controller's host — cannot rewrite it unnoticed: `audit verify` checks the kept head too.
 */
export interface AuditHeadStore {
  /** The head kept last; undefined when none was kept yet. */
  read(): Promise<AuditAnchor | undefined>;
  write(head: AuditAnchor): Promise<void>;
}

/**
 * An `AuditLog` that keeps the head of every record it appends (`AuditHeadStore`), in order: a head is
 * never replaced by an older one. A head that cannot be kept is reported to `onError`; the append itself
 * (already stored) still succeeds.
 */
export class HeadKeepingAuditLog implements AuditLog {
  private writes: Promise<void> = Promise.resolve();
  private kept = 0;

  constructor(
    private readonly inner: AuditLog,
    private readonly store: AuditHeadStore,
    private readonly onError: (err: unknown) => void,
  ) {}

  async append(record: AuditRecord): Promise<AuditEntry> {
    const entry = await this.inner.append(record);
    this.writes = this.writes.then(async () => {
      if (entry.seq <= this.kept) return;
      try {
        await this.store.write({ seq: entry.seq, hash: entry.hash });
        this.kept = entry.seq;
      } catch (err) {
        this.onError(err);
      }
    });
    await this.writes;
    return entry;
  }

  entries(): Promise<{ entries: AuditEntry[]; firstSeq: number }> {
    return this.inner.entries();
  }

  /** The head kept outside the stream, once every pending write is done. */
  async keptHead(): Promise<AuditAnchor | undefined> {
    await this.writes;
    return this.store.read();
  }
}
