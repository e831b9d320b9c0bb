/**
 * The mining findings of one flow: merges facts from every mining message and decides when a
 * finding is worth a new detection.
 *
 * Detection policy: a detection is emitted when the flow's confidence *rises*, so a flow raises at
 * most three (low, medium, high) however many messages it carries. The flow's confidence is the best
 * single finding, raised one level when both directions produced JSON mining messages (the client
 * spoke a dialect and the pool answered in it). A flow that starts with a high-confidence login
 * therefore raises exactly one detection, and the pool's answer only enriches `facts()`.
 * Write-size heuristics (encrypted Stratum V2) do not count as agreement: their two directions are
 * one heuristic, not two witnesses.
 */
import type { Confidence, Detection, Direction, StratumDialect, StratumFacts } from '../types.js';
import type { ExtractedFacts } from './extract.js';
import { confidenceRank } from './verdict.js';

export interface MiningFinding {
  dialect: StratumDialect;
  confidence: Confidence;
  /** Secret-free description of the message, e.g. `stratum subscribe ("mining.subscribe")`. */
  evidence: string;
  method?: string;
  facts: ExtractedFacts;
  direction: Direction;
  atMs: number;
  /** The finding is a decoded message that speaks for its direction (see the agreement rule above). */
  countsForAgreement: boolean;
}

/** The strongest finding so far: it names the flow's dialect and triggering method. */
type Best = Pick<MiningFinding, 'dialect' | 'confidence' | 'method'>;

const RAISED: Record<Confidence, Confidence> = { low: 'medium', medium: 'high', high: 'high' };

export class MiningFindings {
  private best: Best | undefined;
  private merged: ExtractedFacts = {};
  private readonly agreeingDirections = new Set<Direction>();
  private reported: Confidence | undefined;

  /** Records a finding; returns a detection when the flow's confidence rose. */
  record(finding: MiningFinding): Detection | undefined {
    // Earlier facts win: the first login or agent of a flow is the one that identified it.
    this.merged = { ...finding.facts, ...this.merged };
    const best =
      this.best === undefined || confidenceRank(finding.confidence) > confidenceRank(this.best.confidence)
        ? { dialect: finding.dialect, confidence: finding.confidence, ...(finding.method !== undefined ? { method: finding.method } : {}) }
        : this.best;
    this.best = best;
    if (finding.countsForAgreement) this.agreeingDirections.add(finding.direction);
    const bothDirections = this.agreeingDirections.size === 2;
    const level = bothDirections ? RAISED[best.confidence] : best.confidence;
    if (this.reported !== undefined && confidenceRank(level) <= confidenceRank(this.reported)) return undefined;
    this.reported = level;
    return {
      type: 'stratum',
      confidence: level,
      evidence: bothDirections ? `${finding.evidence}; client and pool messages agree` : finding.evidence,
      direction: finding.direction,
      atMs: finding.atMs,
      stratum: this.factsFor(best),
    };
  }

  /** Everything learnt so far; undefined until a first finding. */
  facts(): StratumFacts | undefined {
    return this.best === undefined ? undefined : this.factsFor(this.best);
  }

  private factsFor(best: Best): StratumFacts {
    return { dialect: best.dialect, ...(best.method !== undefined ? { method: best.method } : {}), ...this.merged };
  }
}
