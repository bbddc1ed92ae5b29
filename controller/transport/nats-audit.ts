/**
 * The audit trail in JetStream (stream FFK_AUDIT, one subject): records appended in order, each chained to
 * the last (controller/domain/access/audit.ts). Appends are serialized in this process and published with
 * the expected last sequence, so two controllers appending at once cannot fork the chain (the loser
 * re-reads the head and chains after the winner).
 */
import { jetstreamManager, jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetStreamReplicas } from '../../shared/transport/nats.js';
import { UnavailableError } from '../../shared/errors.js';
import { AUDIT_STREAM, AUDIT_SUBJECT } from '../../shared/names.js';
import { chainHash, GENESIS, type AuditEntry, type AuditLog, type AuditRecord } from '../domain/access/audit.js';

type Stored = Omit<AuditEntry, 'seq'>;
const ATTEMPTS = 5;

export class JetStreamAuditLog implements AuditLog {
  private chain: Promise<unknown> = Promise.resolve();
  private head: { seq: number; hash: string } | undefined;

  private constructor(private readonly jsm: JetStreamManager, private readonly js: JetStreamClient) {}

  static async open(nc: NatsConnection): Promise<JetStreamAuditLog> {
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.info(AUDIT_STREAM).catch(async () => {
        await jsm.streams.add({ name: AUDIT_STREAM, subjects: [AUDIT_SUBJECT], num_replicas: jetStreamReplicas(nc) });
      });
      return new JetStreamAuditLog(jsm, jetstream(nc));
    } catch (err) {
      throw new UnavailableError(`cannot open JetStream stream ${AUDIT_STREAM}: ${(err as Error).message}`, { cause: err });
    }
  }

  append(record: AuditRecord): Promise<AuditEntry> {
    const next = this.chain.then(() => this.appendNow(record));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async appendNow(record: AuditRecord): Promise<AuditEntry> {
    for (let attempt = 1; ; attempt++) {
      const head = (this.head ??= await this.readHead());
      const stored: Stored = { ...record, prev: head.hash, hash: chainHash(head.hash, record) };
      try {
        const ack = await this.js.publish(AUDIT_SUBJECT, JSON.stringify(stored), { expect: { lastSequence: head.seq } });
        this.head = { seq: ack.seq, hash: stored.hash };
        return { ...stored, seq: ack.seq };
      } catch (err) {
        this.head = undefined; // another writer appended: chain after it
        if (attempt >= ATTEMPTS) throw new UnavailableError(`audit record of ${record.method} not stored after ${ATTEMPTS} attempts: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  private async readHead(): Promise<{ seq: number; hash: string }> {
    const info = await this.jsm.streams.info(AUDIT_STREAM);
    const last = info.state.last_seq;
    if (last === 0 || info.state.messages === 0) return { seq: last, hash: GENESIS };
    const m = await this.jsm.streams.getMessage(AUDIT_STREAM, { seq: last });
    return { seq: last, hash: (m?.json<Stored>() ?? { hash: GENESIS }).hash };
  }

  async entries(): Promise<{ entries: AuditEntry[]; firstSeq: number }> {
    const info = await this.jsm.streams.info(AUDIT_STREAM);
    const out: AuditEntry[] = [];
    for (let seq = Math.max(1, info.state.first_seq); seq <= info.state.last_seq; seq++) {
      const m = await this.jsm.streams.getMessage(AUDIT_STREAM, { seq }).catch(() => null);
      if (m) out.push({ ...m.json<Stored>(), seq });
    }
    return { entries: out, firstSeq: 1 };
  }
}
