/** Turns one parsed JSON message into a mining finding: verdict, facts and evidence together. */
import type { Direction } from '../types.js';
import { cleanText, extractFacts } from './extract.js';
import { classifyMessage } from './methods.js';
import type { MiningFinding } from './mining-findings.js';

const MAX_METHOD_IN_EVIDENCE = 48;

/**
 * A message normally travels one way: client messages up, pool messages down. One travelling the
 * other way (the agent acting as a pool) is still mining, flagged in the evidence, but it does not
 * count as the two sides agreeing.
 */
export function findingFromMessage(message: unknown, direction: Direction, atMs: number): MiningFinding | undefined {
  const verdict = classifyMessage(message);
  if (verdict === undefined) return undefined;
  const expectedWay = (verdict.role === 'client') === (direction === 'up');
  const described = verdict.method === undefined ? verdict.reason : `${verdict.reason} ("${cleanText(verdict.method, MAX_METHOD_IN_EVIDENCE)}")`;
  const evidence = expectedWay ? described : `${described}, sent ${direction === 'up' ? 'by the agent' : 'by the destination'}`;
  return {
    dialect: verdict.dialect,
    confidence: verdict.confidence,
    evidence,
    ...(verdict.method !== undefined ? { method: verdict.method } : {}),
    facts: extractFacts(message, verdict),
    direction,
    atMs,
    countsForAgreement: expectedWay,
  };
}
