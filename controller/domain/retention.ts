/**
 * Retention of whole cuts (never single components), the way restic's `forget` reads its policy: walking
 * the sealed cuts newest first, keep-last keeps the N newest; keep-daily keeps the newest cut of each of
 * the last N days that have cuts; likewise weekly (ISO weeks) and monthly. Days, weeks and months are
 * counted in the policy's time zone. A cut kept by no rule goes.
 */
import { ValidationError } from '../../shared/errors.js';
import { checkTimeZone } from '../../shared/time-zone.js';

export interface RetentionPolicy {
  keepLast: number;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  /** IANA time zone for day/week/month boundaries. */
  timezone: string;
  updatedAt: Date;
}

export interface RetentionCandidate {
  cutId: string;
  createdAt: Date;
}

export interface RetentionDecision {
  cutId: string;
  createdAt: Date;
  keep: boolean;
  /** Why it stays (e.g. "last 1/2", "daily 2026-11-21"), or why it goes. */
  reasons: string[];
}

export const RULES = ['keepLast', 'keepDaily', 'keepWeekly', 'keepMonthly'] as const;

/** Validates a policy given by a person: counts are whole numbers ≥ 0, at least one is > 0, the zone exists. */
export function checkPolicy(p: Omit<RetentionPolicy, 'updatedAt'>): void {
  for (const rule of RULES) {
    const v = p[rule];
    if (!Number.isInteger(v) || v < 0) throw new ValidationError(`retention ${flag(rule)} must be a whole number ≥ 0 (got ${v})`, { field: rule });
  }
  if (RULES.every((r) => p[r] === 0)) {
    throw new ValidationError('a retention policy must keep something: give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly above 0', { field: 'keepLast' });
  }
  checkTimeZone(p.timezone);
}

/** `keepDaily` → `--keep-daily`. */
export function flag(rule: (typeof RULES)[number]): string {
  return `--keep-${rule.slice(4).toLowerCase()}`;
}

interface Parts {
  year: number;
  month: number;
  day: number;
}

function partsIn(time: Date, timeZone: string): Parts {
  const f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
  const get = (t: string): number => Number(f.formatToParts(time).find((p) => p.type === t)?.value);
  return { year: get('year'), month: get('month'), day: get('day') };
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** ISO-8601 week of a calendar date: `2026-W47`. */
function isoWeek({ year, month, day }: Parts): string {
  const d = new Date(Date.UTC(year, month - 1, day));
  const dow = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - dow);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${pad(week)}`;
}

/** Decides, for every sealed cut, whether the policy keeps it. Output is newest first. */
export function applyPolicy(cuts: RetentionCandidate[], policy: Omit<RetentionPolicy, 'updatedAt'>): RetentionDecision[] {
  const sorted = [...cuts].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.cutId < b.cutId ? 1 : -1));
  const buckets: { rule: (typeof RULES)[number]; label: string; key: (p: Parts, i: number) => string }[] = [
    { rule: 'keepLast', label: 'last', key: (_p, i) => String(i) },
    { rule: 'keepDaily', label: 'daily', key: (p) => `${p.year}-${pad(p.month)}-${pad(p.day)}` },
    { rule: 'keepWeekly', label: 'weekly', key: (p) => isoWeek(p) },
    { rule: 'keepMonthly', label: 'monthly', key: (p) => `${p.year}-${pad(p.month)}` },
  ];
  const state = new Map(buckets.map((b) => [b.rule, { kept: 0, lastKey: undefined as string | undefined }]));
  return sorted.map((cut, i) => {
    const parts = partsIn(cut.createdAt, policy.timezone);
    const reasons: string[] = [];
    for (const b of buckets) {
      const limit = policy[b.rule];
      const s = state.get(b.rule) as { kept: number; lastKey: string | undefined };
      if (s.kept >= limit) continue;
      const key = b.key(parts, i);
      if (key === s.lastKey) continue;
      s.kept += 1;
      s.lastKey = key;
      reasons.push(b.rule === 'keepLast' ? `last ${s.kept}/${limit}` : `${b.label} ${key} (${s.kept}/${limit})`);
    }
    return { cutId: cut.cutId, createdAt: cut.createdAt, keep: reasons.length > 0, reasons: reasons.length > 0 ? reasons : ['kept by no rule'] };
  });
}

/** One line of a policy, for people: "keep last 2, daily 7, weekly 4, monthly 0 (UTC)". */
export function describePolicy(p: Omit<RetentionPolicy, 'updatedAt'>): string {
  const parts = RULES.filter((r) => p[r] > 0).map((r) => `${r.slice(4).toLowerCase()} ${p[r]}`);
  return `keep ${parts.join(', ')} (days in ${p.timezone})`;
}
