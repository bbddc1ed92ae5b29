/** Schedules and retention policies to and from proto, for the controller's server and the CLI. */
import type {
  RetentionDecision as PbRetentionDecision,
  RetentionPlan as PbRetentionPlan,
  RetentionPolicy as PbRetentionPolicy,
  Schedule as PbSchedule,
} from '../../proto/gen/ffkeeper/v1/controller.js';
import type { RetentionPlan } from '../domain/retention-service.js';
import type { RetentionDecision, RetentionPolicy } from '../domain/retention.js';
import type { ScheduleKind, ScheduleView } from '../domain/schedules.js';

export function scheduleToProto(s: ScheduleView): PbSchedule {
  return {
    site: s.site,
    kind: s.kind,
    cron: s.cron,
    timezone: s.timezone,
    updatedAt: s.updatedAt,
    lastRunAt: s.lastRunAt,
    lastJobId: s.lastJobId ?? '',
    lastOutcome: s.lastOutcome ?? '',
    nextRunAt: s.nextRunAt,
  };
}

export function scheduleFromProto(p: PbSchedule): ScheduleView {
  return {
    site: p.site,
    kind: p.kind as ScheduleKind,
    cron: p.cron,
    timezone: p.timezone,
    updatedAt: p.updatedAt ?? new Date(0),
    ...(p.lastRunAt ? { lastRunAt: p.lastRunAt } : {}),
    ...(p.lastJobId ? { lastJobId: p.lastJobId } : {}),
    ...(p.lastOutcome ? { lastOutcome: p.lastOutcome } : {}),
    ...(p.nextRunAt ? { nextRunAt: p.nextRunAt } : {}),
  };
}

export type SitePolicy = RetentionPolicy & { site: string };

export function policyToProto(site: string, p: RetentionPolicy): PbRetentionPolicy {
  return { site, keepLast: p.keepLast, keepDaily: p.keepDaily, keepWeekly: p.keepWeekly, keepMonthly: p.keepMonthly, timezone: p.timezone, updatedAt: p.updatedAt };
}

export function policyFromProto(p: PbRetentionPolicy): SitePolicy {
  return { site: p.site, keepLast: p.keepLast, keepDaily: p.keepDaily, keepWeekly: p.keepWeekly, keepMonthly: p.keepMonthly, timezone: p.timezone, updatedAt: p.updatedAt ?? new Date(0) };
}

function decisionToProto(d: RetentionDecision): PbRetentionDecision {
  return { snapshotId: d.cutId, createdAt: d.createdAt, keep: d.keep, reasons: d.reasons };
}

export function retentionPlanToProto(p: RetentionPlan): PbRetentionPlan {
  return { policy: policyToProto(p.site, p.policy), decisions: p.decisions.map(decisionToProto) };
}

export function retentionPlanFromProto(p: PbRetentionPlan): RetentionPlan {
  const policy = policyFromProto(p.policy ?? { site: '', keepLast: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, timezone: 'UTC' });
  return {
    site: policy.site,
    policy,
    decisions: p.decisions.map((d) => ({ cutId: d.snapshotId, createdAt: d.createdAt ?? new Date(0), keep: d.keep, reasons: d.reasons })),
  };
}
