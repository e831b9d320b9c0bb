import type { Confidence, StratumDialect } from '../types.js';

/** What one JSON message says about mining, before it is tied to a flow, a direction or a time. */
export interface MessageVerdict {
  dialect: StratumDialect;
  confidence: Confidence;
  /** Which side of the mining protocol sends this message. */
  role: 'client' | 'server';
  /** Short, secret-free description for the detection evidence, e.g. "cryptonote login with agent". */
  reason: string;
  /** The method as sent (not lower-cased), when the message has one. */
  method?: string;
}

const RANK: Record<Confidence, number> = { low: 0, medium: 1, high: 2 };

export function confidenceRank(confidence: Confidence): number {
  return RANK[confidence];
}

