/**
 * Propagation latency of a running, caught-up link: a driver commits `UPDATE ffsecurity_dossier SET
 * comment = 'bench:<seq>:<epoch ms>', modified_date = now()` on the master (directly on PostgreSQL,
 * autocommit, a pool of 4 connections) at a fixed pace, each on a random dossier of the list with no
 * change of its own in flight (so a dossier's changes commit in order); a poller on the
 * slave (every 20 ms, one query for the replicas of the dossiers with changes not yet seen) records when
 * each `<seq>` first becomes visible. Latency = first seen − the driver's commit acknowledgement. A change
 * overwritten by a later change of the same dossier before it was seen is counted as coalesced.
 */
import type pg from 'pg';
import { replicaId } from '../../shared/sync/link.js';

export interface LatencyPlan {
  rate: number;
  seconds: number;
  /** How long to wait for the last changes after the driver stops. */
  graceMs: number;
  pollMs: number;
}

export interface LatencyRun {
  rate: number;
  committed: number;
  /** Commits per second the driver achieved. */
  achievedRate: number;
  /** Visible − commit, ms, one per change seen. */
  samples: number[];
  coalesced: number;
  /** Changes neither seen nor overwritten when the grace period ended. */
  unseen: number;
  polls: number;
  /** Mean duration of one poll query, ms. */
  pollQueryMs: number;
  loadavg: number;
}

interface Change {
  seq: number;
  dossier: number;
  committedAt?: number;
  seenAt?: number;
  coalesced?: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** The changes of one run, by dossier, with what the poller saw. */
class Ledger {
  readonly all = new Map<number, Change>();
  private readonly open = new Map<number, Change[]>();

  add(c: Change): void {
    this.all.set(c.seq, c);
    const list = this.open.get(c.dossier) ?? [];
    list.push(c);
    this.open.set(c.dossier, list);
  }

  dossiers(): number[] {
    return [...this.open.keys()];
  }

  /** The slave shows change `seq` on `dossier`: it and every earlier open change of the dossier are settled. */
  seen(dossier: number, seq: number, at: number): void {
    const list = this.open.get(dossier) ?? [];
    for (const c of list) {
      if (c.seq === seq) c.seenAt ??= at;
      else if (c.seq < seq) c.coalesced = c.seenAt === undefined;
    }
    const rest = list.filter((c) => c.seq > seq);
    if (rest.length > 0) this.open.set(dossier, rest);
    else this.open.delete(dossier);
  }
}

/** Runs the driver and the poller for one rate; `seqStart` keeps the seqs unique across runs. */
export async function measureLatency(o: { master: pg.Pool; slave: pg.Client; linkNumber: number; dossierIds: readonly number[]; seqStart: number; plan: LatencyPlan; loadavg: number }): Promise<LatencyRun> {
  const { plan } = o;
  const ledger = new Ledger();
  let driving = true;
  let polls = 0;
  let pollTotal = 0;
  let stoppedAt = Number.POSITIVE_INFINITY;
  const poller = (async () => {
    const graceEnd = (): number => (driving ? Number.POSITIVE_INFINITY : stoppedAt + plan.graceMs);
    while (driving || (ledger.dossiers().length > 0 && Date.now() < graceEnd())) {
      const tick = Date.now();
      const ids = ledger.dossiers();
      if (ids.length > 0) {
        const { rows } = await o.slave.query<{ id: string; comment: string }>(
          "SELECT id, comment FROM ffsecurity_dossier WHERE id = ANY($1::bigint[]) AND comment LIKE 'bench:%'",
          [ids.map((id) => String(replicaId(o.linkNumber, id)))],
        );
        const at = Date.now();
        polls++;
        pollTotal += at - tick;
        for (const r of rows) {
          const seq = Number(r.comment.split(':')[1]);
          const change = ledger.all.get(seq);
          if (change) ledger.seen(change.dossier, seq, at);
        }
      }
      await sleep(tick + plan.pollMs - Date.now());
    }
  })();
  const n = Math.round(plan.rate * plan.seconds);
  const commits: Promise<unknown>[] = [];
  const inFlight = new Set<number>();
  const t0 = Date.now();
  try {
    for (let i = 0; i < n; i++) {
      await sleep(t0 + (i * 1000) / plan.rate - Date.now());
      let dossier = o.dossierIds[Math.floor(Math.random() * o.dossierIds.length)] as number;
      while (inFlight.has(dossier)) dossier = o.dossierIds[Math.floor(Math.random() * o.dossierIds.length)] as number;
      const change: Change = { seq: o.seqStart + i, dossier };
      ledger.add(change);
      inFlight.add(dossier);
      commits.push(
        o.master
          .query('UPDATE ffsecurity_dossier SET comment = $1, modified_date = now() WHERE id = $2', [`bench:${change.seq}:${Date.now()}`, change.dossier])
          .then(() => (change.committedAt = Date.now()))
          .finally(() => inFlight.delete(dossier)),
      );
    }
    await Promise.all(commits);
  } finally {
    stoppedAt = Date.now();
    driving = false;
    await poller;
  }
  const changes = [...ledger.all.values()];
  const samples = changes.flatMap((c) => (c.seenAt !== undefined && c.committedAt !== undefined ? [Math.max(0, c.seenAt - c.committedAt)] : []));
  return {
    rate: plan.rate,
    committed: changes.length,
    achievedRate: changes.length / ((stoppedAt - t0) / 1000),
    samples,
    coalesced: changes.filter((c) => c.coalesced).length,
    unseen: changes.filter((c) => c.seenAt === undefined && !c.coalesced).length,
    polls,
    pollQueryMs: polls === 0 ? Number.NaN : pollTotal / polls,
    loadavg: o.loadavg,
  };
}
