/**
 * The performance targets from the issue, checked against one run's medians:
 *  - tunnel throughput at least 0.7 × direct;
 *  - every figure at least as good as Squid's (higher rates, lower memory);
 *  - a policy decision under 5 µs with 100k rules.
 */
import type { PolicyDecisionOutcome } from './measure/policy-decision.js';
import { METRIC_ORDER, METRICS, type ResultSet } from './results.js';
import { ratio } from './stats.js';

export const SUBJECT = 'chokepoint';
export const PEER = 'squid';
export const BASELINE = 'direct';
/** Chokepoint with tunnel classification off: the reference for the cost of inspection. */
export const UNINSPECTED = 'chokepoint-raw';
const MIN_THROUGHPUT_VS_UNINSPECTED = 0.95;

const MIN_THROUGHPUT_VS_DIRECT = 0.7;
const MAX_DECISION_NS = 5_000;

export type Verdict = 'pass' | 'fail' | 'not measured';

export interface GoalCheck {
  goal: string;
  measured: string;
  verdict: Verdict;
}

function verdict(ok: boolean | null): Verdict {
  if (ok === null) return 'not measured';
  return ok ? 'pass' : 'fail';
}

function formatRatio(value: number | null): string {
  return value === null ? '—' : `${value.toFixed(2)}×`;
}

function throughputGoal(results: ResultSet): GoalCheck {
  const share = ratio(results.median('tunnelThroughput', SUBJECT), results.median('tunnelThroughput', BASELINE));
  return {
    goal: `Tunnel throughput ≥ ${MIN_THROUGHPUT_VS_DIRECT} × direct`,
    measured: `${formatRatio(share)} direct`,
    verdict: verdict(share === null ? null : share >= MIN_THROUGHPUT_VS_DIRECT),
  };
}

function inspectionGoal(results: ResultSet): GoalCheck {
  const share = ratio(results.median('tunnelThroughput', SUBJECT), results.median('tunnelThroughput', UNINSPECTED));
  return {
    goal: `Tunnel throughput with classification ≥ ${MIN_THROUGHPUT_VS_UNINSPECTED} × without`,
    measured: `${formatRatio(share)} without`,
    verdict: verdict(share === null ? null : share >= MIN_THROUGHPUT_VS_UNINSPECTED),
  };
}

function peerGoals(results: ResultSet): GoalCheck[] {
  return METRIC_ORDER.map((id) => {
    const metric = METRICS[id];
    const versusPeer = ratio(results.median(id, SUBJECT), results.median(id, PEER));
    const atLeastAsGood = (value: number): boolean => (metric.better === 'higher' ? value >= 1 : value <= 1);
    return {
      goal: `${metric.title}: ${metric.better === 'higher' ? '≥' : '≤'} Squid`,
      measured: `${formatRatio(versusPeer)} Squid`,
      verdict: verdict(versusPeer === null ? null : atLeastAsGood(versusPeer)),
    };
  });
}

function policyGoal(policy: PolicyDecisionOutcome): GoalCheck {
  const goal = `Policy decision < ${MAX_DECISION_NS / 1000} µs at 100k rules`;
  if (policy.status !== 'measured' || policy.nsPerDecision === null) {
    return { goal, measured: policy.status === 'failed' ? 'failed' : '—', verdict: 'not measured' };
  }
  return {
    goal,
    measured: `${(policy.nsPerDecision / 1000).toFixed(2)} µs`,
    verdict: verdict(policy.nsPerDecision < MAX_DECISION_NS),
  };
}

export function checkGoals(results: ResultSet, policy: PolicyDecisionOutcome): GoalCheck[] {
  return [throughputGoal(results), inspectionGoal(results), ...peerGoals(results), policyGoal(policy)];
}
