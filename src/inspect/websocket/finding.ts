import type { Confidence, Detection } from '../types.js';

/**
 * A detection before the inspector stamps it with a direction and a time. `key` names what was found so
 * the inspector raises each finding once per flow.
 */
export interface Finding {
  key: string;
  type: Detection['type'];
  confidence: Confidence;
  evidence: string;
}

/** Peer-controlled text made safe for evidence: printable ASCII only, bounded length. */
export function printableText(text: string, maxLength: number): string {
  const clipped = text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
  return clipped.replace(/[^\x20-\x7e…]/g, '?');
}
