import type { EventBus } from '../events/bus.js';
import { flowEventFields } from '../flow/event-fields.js';
import { elapsedNs, type Flow } from '../flow/flow.js';
import type { FlowRegistry } from '../flow/registry.js';
import type { Decision } from '../policy/types.js';
import type { QuarantineController } from '../quarantine/controller.js';
import { formatSeconds } from '../config/quantities.js';
import type { BudgetAction, BudgetName } from './types.js';
import { UsageWindow } from './usage-window.js';

/**
 * Keeps every agent's budgets (src/budgets/types.ts) and acts when one is spent:
 *
 * - `bytes_out`: bytes the agent sends, fed per chunk by the relay and the HTTP entry (one add and one comparison, no
 *   allocation); `deny` stops the flow whose chunk would cross the limit (that chunk is not forwarded)
 *   and refuses the agent's new flows until the window resets;
 * - `new_destinations`: (host or address, port) pairs not yet used in the window, counted at admission;
 *   `deny` refuses the one beyond the limit (destinations already used stay reachable);
 * - `connection_duration`: a timer per flow; at `max` the flow is ended (`deny`) or reported.
 *
 * `alert` reports (once per window, or once per flow for durations) and lets traffic go on; `quarantine`
 * quarantines the agent. Audit-mode agents are only reported. Usage is kept per agent name, so it
 * survives a rules reload; the budget values are read from the agent's current policy each time.
 */

/** What the tracker needs from the pipeline to end a live flow the way every refusal is recorded. */
export interface BudgetEnforcement {
  /** Records an enforced denial on the flow (its `flow.denied` and `flow.closed` say why). */
  recordDenial(flow: Flow, decision: Decision): void;
  /** Ends the flow now. */
  revoke(flow: Flow, reason: string): void;
}

interface AgentUsage {
  bytesOut: UsageWindow;
  destinations: UsageWindow;
}

/** Returns undefined to forward the chunk, or why the flow must stop (the chunk is then dropped). */
export type BytesMeter = (bytes: number) => string | undefined;

export class BudgetTracker {
  private readonly usage = new Map<string, AgentUsage>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly events: EventBus,
    private readonly registry: FlowRegistry,
    private readonly quarantines: QuarantineController,
    private readonly enforcement: BudgetEnforcement,
  ) {}

  /**
   * At admission, once the policy allowed the flow: a refusal when a budget says so (bytes spent with
   * `deny`, or one new destination too many with `deny` / `quarantine`), otherwise undefined.
   */
  admit(flow: Flow): Decision | undefined {
    const budgets = flow.agent.budgets;
    if (!budgets) return undefined;
    const usage = this.usageOf(flow.agent.name);
    const now = Date.now();
    const enforce = flow.agent.mode === 'enforce';
    const bytes = budgets.bytesOut;
    if (bytes && enforce && bytes.action === 'deny') {
      usage.bytesOut.roll(now, bytes.windowMs);
      if (usage.bytesOut.used >= bytes.limit) return this.denial('bytes_out', this.bytesReason(flow, usage.bytesOut, bytes.limit, bytes.windowMs));
    }
    const destinations = budgets.newDestinations;
    if (!destinations) return undefined;
    const window = usage.destinations;
    window.roll(now, destinations.windowMs);
    const key = `${flow.target.host ?? flow.addresses[0] ?? flow.target.requested}:${flow.target.port}`;
    if (window.seen.has(key)) return undefined;
    if (window.seen.size < destinations.limit) {
      window.seen.add(key);
      window.used = window.seen.size;
      return undefined;
    }
    // One more than the limit: the set stays at the limit, so memory is bounded whatever the agent does.
    const reason =
      `budget new_destinations of agent ${flow.agent.name} is spent: ${destinations.limit} new destinations in the current ` +
      `${formatSeconds(destinations.windowMs / 1000)} window; ${key} would be one more. Destinations already used stay reachable; ` +
      `new ones are refused until ${new Date(window.resetsAt).toISOString()}`;
    const action = this.effective(flow, destinations.action);
    this.reportOnce(flow, window, 'new_destinations', action, reason, { limit: destinations.limit, window_s: destinations.windowMs / 1000, used: window.seen.size + 1, destination: key });
    if (action === 'alert') return undefined;
    if (action === 'quarantine') this.quarantine(flow, 'new_destinations', reason, flow.id);
    return this.denial('new_destinations', reason);
  }

  /** After registration: the duration timer of a flow whose agent has `connection_duration`. */
  started(flow: Flow): void {
    const budget = flow.agent.budgets?.connectionDuration;
    if (!budget) return;
    const timer = setTimeout(() => this.overtime(flow), Math.max(budget.maxMs - elapsedNs(flow) / 1e6, 0));
    timer.unref();
    this.timers.set(flow.id, timer);
  }

  /** When the flow closes (any path). */
  closed(flow: Flow): void {
    const timer = this.timers.get(flow.id);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(flow.id);
  }

  /**
   * The per-chunk meter of bytes going out. The budget is read from the flow's current policy at each
   * chunk, so a reload that adds, changes or removes it applies to live flows too; without a budget a
   * chunk costs one property read.
   */
  meter(flow: Flow): BytesMeter {
    let window: UsageWindow | undefined;
    return (bytes) => {
      const budget = flow.agent.budgets?.bytesOut;
      if (!budget) return undefined;
      window ??= this.usageOf(flow.agent.name).bytesOut;
      window.roll(Date.now(), budget.windowMs);
      if (window.used + bytes <= budget.limit) {
        window.used += bytes;
        return undefined;
      }
      return this.overspent(flow, window, bytes, budget.limit, budget.windowMs, budget.action);
    };
  }

  private overspent(flow: Flow, window: UsageWindow, bytes: number, limit: number, windowMs: number, configured: BudgetAction): string | undefined {
    const action = this.effective(flow, configured);
    const reason = this.bytesReason(flow, window, limit, windowMs);
    this.reportOnce(flow, window, 'bytes_out', action, reason, { limit, window_s: windowMs / 1000, used: window.used + bytes });
    if (action === 'alert') {
      window.used += bytes;
      return undefined;
    }
    // The window is spent: the chunk that would cross the limit is not forwarded, nor any after it.
    window.used = Math.max(window.used, limit);
    if (action === 'quarantine') this.quarantine(flow, 'bytes_out', reason);
    else this.enforcement.recordDenial(flow, { action: 'deny', rule: 'budget.bytes_out', reason });
    return `budget.bytes_out: ${reason}`;
  }

  private overtime(flow: Flow): void {
    this.timers.delete(flow.id);
    const budget = flow.agent.budgets?.connectionDuration;
    if (!budget || this.registry.get(flow.id) !== flow) return;
    const action = this.effective(flow, budget.action);
    const reason = `budget connection_duration of agent ${flow.agent.name}: this connection reached its maximum of ${formatSeconds(budget.maxMs / 1000)}; open a new one`;
    this.report(flow, 'connection_duration', action, reason, { max_s: budget.maxMs / 1000 });
    if (action === 'alert') return;
    if (action === 'quarantine') return this.quarantine(flow, 'connection_duration', reason);
    this.enforcement.recordDenial(flow, { action: 'deny', rule: 'budget.connection_duration', reason });
    this.enforcement.revoke(flow, `budget.connection_duration: ${reason}`);
  }

  private bytesReason(flow: Flow, window: UsageWindow, limit: number, windowMs: number): string {
    return (
      `budget bytes_out of agent ${flow.agent.name} is spent: ${limit} bytes may be sent per ${formatSeconds(windowMs / 1000)} window; ` +
      `sending is refused until ${new Date(window.resetsAt).toISOString()}`
    );
  }

  /** Audit agents are only reported. */
  private effective(flow: Flow, action: BudgetAction): BudgetAction {
    return flow.agent.mode === 'enforce' ? action : 'alert';
  }

  private denial(budget: BudgetName, reason: string): Decision {
    return { action: 'deny', rule: `budget.${budget}`, reason };
  }

  private quarantine(flow: Flow, budget: BudgetName, reason: string, spare?: string): void {
    this.quarantines.enter(
      { agent: flow.agent.name, agentMode: flow.agent.mode, reason: `budget ${budget}: ${reason}`, trigger: `budget.${budget}`, rule: `budget.${budget}`, flowId: flow.id, tags: flow.tags },
      spare,
    );
  }

  private reportOnce(flow: Flow, window: UsageWindow, budget: BudgetName, action: BudgetAction, reason: string, details: Record<string, unknown>): void {
    if (window.reported) return;
    window.reported = true;
    this.report(flow, budget, action, reason, { ...details, window_started_at: new Date(window.opened).toISOString(), resets_at: new Date(window.resetsAt).toISOString() });
  }

  private report(flow: Flow, budget: BudgetName, action: BudgetAction, reason: string, details: Record<string, unknown>): void {
    this.events.emit({
      name: 'detection.budget_exceeded',
      kind: 'alert',
      ...flowEventFields(flow),
      ruleId: `budget.${budget}`,
      reason,
      enforced: action !== 'alert',
      detection: {
        kind: 'budget_exceeded',
        confidence: 'high',
        evidence: `${budget} budget spent`,
        action,
        time_to_detect_ms: elapsedNs(flow) / 1e6,
      },
      details: { budget, ...details },
    });
  }

  private usageOf(agent: string): AgentUsage {
    let usage = this.usage.get(agent);
    if (!usage) {
      usage = { bytesOut: new UsageWindow(), destinations: new UsageWindow() };
      this.usage.set(agent, usage);
    }
    return usage;
  }
}
