import type { EventBus } from '../events/bus.js';
import { classificationFields } from '../events/classification-fields.js';
import { flowEventFields } from '../flow/event-fields.js';
import { elapsedNs, type Flow } from '../flow/flow.js';
import type { FlowClassification } from '../inspect/flow-classifier.js';
import type { Detection } from '../inspect/types.js';
import { judgeDetections, judgeProtocol, judgeTarget, strongestAction, type ProtocolFinding } from '../policy/protocol-decision.js';
import type { DetectionKind } from '../policy/types.js';
import type { QuarantineController } from '../quarantine/controller.js';
import type { PolicySnapshot } from './policy-snapshot.js';

/**
 * Acts on what a flow's bytes revealed: one `detection.*` event per finding, then the strongest
 * action — alert (nothing more), deny (this flow ends), or quarantine (this flow ends, every live
 * flow of the agent is closed, and the agent is refused until released). Audit-mode agents are
 * reported, never blocked nor quarantined.
 */

export type Verdict = { block: false } | { block: true; kind: DetectionKind; reason: string; rule: string };

export class FlowJudge {
  constructor(
    private readonly policy: () => PolicySnapshot,
    private readonly events: EventBus,
    private readonly quarantine: QuarantineController,
  ) {}

  /** The first judgement, once the protocol is named: mismatches plus every detection so far. */
  judgeClassified(flow: Flow, classification: FlowClassification): Verdict {
    const snapshot = this.policy();
    const rule = snapshot.ruleById(flow.decision.rule);
    const findings = [
      ...judgeProtocol({
        ruleSet: snapshot.ruleSet,
        ...(flow.target.host ? { host: flow.target.host } : {}),
        port: flow.target.port,
        ...(rule ? { rule } : {}),
        classification,
      }),
      ...judgeDetections(snapshot.ruleSet, classification.detections),
    ];
    return this.act(flow, classification, findings);
  }

  /** Before anything is dialled: intel hits on the target's name or port. */
  judgeTarget(flow: Flow): Verdict {
    const findings = judgeTarget(this.policy().ruleSet, flow.target.host, flow.target.port);
    return findings.length === 0 ? { block: false } : this.act(flow, undefined, findings);
  }

  /** Later detections on a flow that keeps being inspected (keep-alive HTTP, WebSocket, Stratum). */
  judgeDetections(flow: Flow, classification: FlowClassification, detections: readonly Detection[]): Verdict {
    if (detections.length === 0) return { block: false };
    return this.act(flow, classification, judgeDetections(this.policy().ruleSet, detections));
  }

  /** Keeps the flow's protocol and facts current for its later events (the close event above all). */
  record(flow: Flow, classification: FlowClassification): void {
    flow.protocol = classification.protocol;
    flow.classification = classificationFields(classification);
  }

  private act(flow: Flow, classification: FlowClassification | undefined, findings: ProtocolFinding[]): Verdict {
    if (classification) this.record(flow, classification);
    const facts = flow.classification;
    const enforced = flow.agent.mode === 'enforce';
    for (const finding of findings) {
      this.events.emit({
        name: `detection.${finding.detection?.type ?? finding.kind}`,
        kind: 'alert',
        ...flowEventFields(flow),
        ...(flow.protocol ? { protocol: flow.protocol } : {}),
        ...(facts ? { classification: facts } : {}),
        reason: finding.reason,
        enforced: enforced && finding.action !== 'alert',
        detection: {
          kind: finding.kind,
          confidence: finding.confidence,
          evidence: finding.evidence,
          action: finding.action,
          time_to_detect_ms: finding.detection ? finding.detection.atMs : elapsedNs(flow) / 1e6,
          ...(finding.detection ? { direction: finding.detection.direction } : {}),
        },
      });
    }
    const action = strongestAction(findings);
    if (!enforced || action === undefined || action === 'alert') return { block: false };
    const decisive = findings.find((finding) => finding.action === action);
    if (!decisive) return { block: false };
    if (action === 'quarantine') this.quarantineAgent(flow, decisive);
    return { block: true, kind: decisive.kind, reason: decisive.reason, rule: `detection.${decisive.kind}` };
  }

  /**
   * Takes effect at once in memory (the next flow of the agent is refused); the state file is written
   * in the background. The controller closes the agent's other live flows, announces it and calls the
   * webhooks; this flow is ended by the caller, in its own protocol.
   */
  private quarantineAgent(flow: Flow, finding: ProtocolFinding): void {
    this.quarantine.enter(
      {
        agent: flow.agent.name,
        agentMode: flow.agent.mode,
        reason: `${finding.kind}: ${finding.evidence}`,
        trigger: finding.kind,
        rule: `detection.${finding.kind}`,
        flowId: flow.id,
        tags: flow.tags,
      },
      flow.id,
    );
  }
}
