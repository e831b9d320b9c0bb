import type { QuarantineConfig } from '../config/quarantine-config.js';
import type { EventBus } from '../events/bus.js';
import type { Tags } from '../events/types.js';
import type { FlowRegistry } from '../flow/registry.js';
import type { QuarantineEntry, QuarantineStore } from './store.js';
import { WebhookNotifier } from './webhooks.js';
import { messageOf } from '../error-message.js';

/**
 * Everything that happens when an agent enters or leaves quarantine, in one place, whoever asks for
 * it (a detection, a budget, an operator): the store is updated (in force at once, saved in the
 * background), every live flow of the agent is closed, an `agent.quarantined` / `agent.released` event
 * is emitted and the webhooks are told. Quarantines with an `expiresAt` are released by a timer with
 * reason "expired" — including those that lapsed while the proxy was down (found at start-up).
 */

export interface QuarantineRequest {
  agent: string;
  agentMode?: 'enforce' | 'audit';
  reason: string;
  /** Detection kind or budget that triggered it ("operator" from the CLI). */
  trigger?: string;
  /** The rule id that decided it (e.g. `detection.stratum`, `budget.bytes_out`). */
  rule?: string;
  flowId?: string;
  tags?: Tags;
  /** Seconds until it lapses; null = until released; undefined = the configured duration. */
  durationS?: number | null;
}

/** setTimeout holds at most 2^31-1 ms; a later expiry re-arms the timer when it fires. */
const MAX_TIMER_MS = 2_147_483_647;

export class QuarantineController {
  private readonly notifier: WebhookNotifier;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Entries whose `agent.quarantined` was emitted here (by identity), so a reload never repeats it. */
  private readonly announced = new WeakSet<QuarantineEntry>();
  /** Entries whose `agent.released` was emitted here, likewise. */
  private readonly announcedReleased = new WeakSet<QuarantineEntry>();

  constructor(
    readonly store: QuarantineStore,
    private readonly events: EventBus,
    private readonly registry: FlowRegistry,
    private readonly config: QuarantineConfig,
  ) {
    this.notifier = new WebhookNotifier(config.webhooks, events);
  }

  /** Releases what expired while the proxy was down, and arms the expiry timer. */
  start(): Promise<void> {
    return this.sweep();
  }

  /**
   * Quarantines the agent now (the next flow is refused) and closes its live flows except `spare` (the
   * flow being refused by the caller, which ends it in its own protocol). An agent already in quarantine
   * keeps its entry; nothing is announced twice. Returns the entry in force.
   */
  enter(request: QuarantineRequest, spare?: string): QuarantineEntry {
    const now = new Date();
    const durationS = request.durationS === undefined ? this.configuredDuration(request.trigger) : request.durationS;
    const existing = this.lengthened(this.store.get(request.agent), durationS === null ? undefined : now.getTime() + durationS * 1000);
    const entry: QuarantineEntry = existing ?? {
      agent: request.agent,
      since: now.toISOString(),
      reason: request.reason.slice(0, 500),
      ...(request.flowId ? { flowId: request.flowId } : {}),
      ...(request.trigger ? { trigger: request.trigger } : {}),
      ...(request.rule ? { rule: request.rule } : {}),
      ...(request.tags && Object.keys(request.tags).length > 0 ? { tags: request.tags } : {}),
      ...(durationS !== null ? { expiresAt: new Date(now.getTime() + durationS * 1000).toISOString() } : {}),
    };
    this.store.add(entry).catch((error: unknown) =>
      this.events.emit({
        name: 'listener.error',
        kind: 'alert',
        outcome: 'failure',
        agent: request.agent,
        reason: `quarantine of ${request.agent} is in force but could not be saved: ${messageOf(error)}`,
      }),
    );
    if (!existing) {
      this.announceEntered(entry, request);
      this.arm();
    }
    this.closeFlowsOf(request.agent, spare);
    return entry;
  }

  /** Releases the agent (an operator, an API); resolves to whether it was quarantined. */
  async release(agent: string, reason = 'released by operator'): Promise<boolean> {
    const entry = this.store.get(agent);
    // Released in memory at once; announced before the save is awaited, so a quarantine entered
    // meanwhile is announced after this release, not before it (the last word is the state in force).
    const saving = this.store.release(agent);
    if (entry) this.announceReleased(entry, reason);
    this.arm();
    return saving;
  }

  /**
   * Re-reads the state file (after `chokepoint quarantine add|release` changed it) and acts on the
   * difference: agents added from outside are enforced on their live flows too and announced; agents
   * removed from outside are announced as released.
   */
  async reloadState(): Promise<void> {
    const before = new Map(this.store.list().map((entry) => [entry.agent, entry]));
    await this.store.reload();
    const after = new Map(this.store.list().map((entry) => [entry.agent, entry]));
    for (const [agent, entry] of before) {
      // Released in this process during the read: already announced by `release`.
      if (after.has(agent) || this.announcedReleased.has(entry)) continue;
      const lapsed = entry.expiresAt !== undefined && Date.parse(entry.expiresAt) <= Date.now();
      this.announceReleased(entry, lapsed ? 'expired' : 'released by operator');
    }
    for (const [agent, entry] of after) {
      // Quarantined in this process during the read (kept by the store as unsaved): already announced.
      if (before.has(agent) || this.announced.has(entry)) continue;
      this.announceEntered(entry, { agent, reason: entry.reason, ...(entry.trigger ? { trigger: entry.trigger } : {}) });
      this.closeFlowsOf(agent);
    }
    await this.sweep();
  }

  /** Stops the timer and pending webhook retries. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.notifier.stop();
  }

  /** Resolves once every webhook delivery started so far is done (tests, graceful stop). */
  webhooksIdle(): Promise<void> {
    return this.notifier.idle();
  }

  /**
   * An agent already in quarantine keeps its entry, but never a shorter quarantine than the new trigger
   * asks for: a 10-minute budget quarantine must not lapse while a detection that quarantines until
   * released is in force. `until` undefined = until released.
   */
  private lengthened(existing: QuarantineEntry | undefined, until: number | undefined): QuarantineEntry | undefined {
    if (existing?.expiresAt === undefined) return existing;
    if (until !== undefined && until <= Date.parse(existing.expiresAt)) return existing;
    const { expiresAt: _shorter, ...rest } = existing;
    const longer: QuarantineEntry = until === undefined ? rest : { ...rest, expiresAt: new Date(until).toISOString() };
    this.store.replace(longer);
    this.arm();
    return longer;
  }

  private configuredDuration(trigger: string | undefined): number | null {
    return (trigger !== undefined ? this.config.durationsS[trigger] : undefined) ?? this.config.defaultDurationS;
  }

  /** Releases every expired entry with its event, then arms the timer for the next one. */
  private async sweep(): Promise<void> {
    // Decided and announced without awaiting in between: an agent re-quarantined while the files are
    // written has a fresh entry (not in `expired()`), and its `agent.quarantined` comes after this
    // `agent.released`; two sweeps at once cannot both release the same entry.
    const saves: Promise<void>[] = [];
    for (const entry of this.store.expired()) {
      saves.push(
        this.store.release(entry.agent).then(
          () => undefined,
          (error: unknown) => {
            this.events.emit({ name: 'listener.error', kind: 'alert', outcome: 'failure', agent: entry.agent, reason: `expired quarantine of ${entry.agent} could not be removed from the state file: ${messageOf(error)}` });
          },
        ),
      );
      // The quarantine is over either way: `get` ignores expired entries.
      this.announceReleased(entry, 'expired');
    }
    this.arm();
    await Promise.all(saves);
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const next = this.store.nextExpiry();
    if (this.stopped || next === undefined) return;
    const delay = Math.min(Math.max(next - Date.now(), 0), MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sweep();
    }, delay);
    this.timer.unref();
  }

  private closeFlowsOf(agent: string, spare?: string): void {
    for (const flow of [...this.registry.all()]) {
      if (flow.agent.name !== agent || flow.id === spare || flow.agent.mode !== 'enforce') continue;
      flow.revoked ??= `agent ${agent} is quarantined`;
      flow.terminate?.(`agent ${agent} is quarantined`);
    }
  }

  private announceEntered(entry: QuarantineEntry, request: QuarantineRequest): void {
    this.announced.add(entry);
    const expiresAt = entry.expiresAt ?? null;
    this.events.emit({
      name: 'agent.quarantined',
      kind: 'alert',
      agent: entry.agent,
      ...(request.agentMode ? { agentMode: request.agentMode } : {}),
      ...(entry.flowId ? { flowId: entry.flowId } : {}),
      ...(entry.tags ? { tags: entry.tags } : {}),
      ...(entry.rule ? { ruleId: entry.rule } : {}),
      reason: `agent ${entry.agent} quarantined: ${request.reason}`.slice(0, 1000),
      details: { since: entry.since, expires_at: expiresAt, ...(entry.trigger ? { trigger: entry.trigger } : {}) },
    });
    this.notifier.notify({
      event: 'quarantined',
      agent: entry.agent,
      reason: entry.reason,
      ...(entry.trigger ? { trigger: entry.trigger } : {}),
      ...(entry.rule ? { rule: entry.rule } : {}),
      ...(entry.flowId ? { flow_id: entry.flowId } : {}),
      ...(entry.tags ? { tags: entry.tags } : {}),
      since: entry.since,
      expires_at: expiresAt,
      at: new Date().toISOString(),
    });
  }

  private announceReleased(entry: QuarantineEntry, why: string): void {
    this.announcedReleased.add(entry);
    this.events.emit({
      name: 'agent.released',
      kind: 'state',
      agent: entry.agent,
      reason: why,
      details: { since: entry.since, expires_at: entry.expiresAt ?? null, quarantine_reason: entry.reason, ...(entry.trigger ? { trigger: entry.trigger } : {}) },
    });
    this.notifier.notify({
      event: 'released',
      agent: entry.agent,
      reason: why,
      ...(entry.trigger ? { trigger: entry.trigger } : {}),
      ...(entry.rule ? { rule: entry.rule } : {}),
      ...(entry.flowId ? { flow_id: entry.flowId } : {}),
      ...(entry.tags ? { tags: entry.tags } : {}),
      since: entry.since,
      expires_at: entry.expiresAt ?? null,
      at: new Date().toISOString(),
    });
  }
}
