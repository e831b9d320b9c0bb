import { randomUUID } from 'node:crypto';
import type { ClassificationFields, EntryMode, Tags } from '../events/types.js';
import type { ProtocolName } from '../inspect/types.js';
import type { AgentPolicy, Decision } from '../policy/types.js';

/**
 * One connection (or, for plain HTTP, one request) from an agent to a destination, from decision to
 * close. The record carries what every event of the flow repeats.
 */
export interface Flow {
  id: string;
  entry: EntryMode;
  startedAt: bigint; // process.hrtime.bigint()
  client: { address: string; port: number };
  /** Credentials the client presented, kept (user only) so a reload can re-identify the flow. */
  credentialUser?: string;
  agent: AgentPolicy;
  tags: Tags;
  target: { host?: string; port: number; requested: string };
  /** Every vetted address of the destination; `dialled` is the one connected to. */
  addresses: string[];
  dialled?: string;
  decision: Decision;
  /** What the bytes say the flow speaks, once classified, and the facts read from them. */
  protocol?: ProtocolName;
  classification?: ClassificationFields;
  /** Milliseconds from the flow's start until the tunnel's protocol was named (for the metrics). */
  classifiedMs?: number;
  /** Bytes relayed so far (up = agent to destination), once a relay runs; for the admin API's flow list. */
  liveBytes?: () => { up: number; down: number };
  /** Closes the flow's sockets; set by whoever relays it. */
  terminate?: (reason: string) => void;
  /** Called after a policy reload that let the flow live on: a relay that applied the old rule re-checks it. */
  reconsider?: () => void;
  /**
   * Why the flow must end, when that was decided before anything could terminate it (a reload or a
   * shutdown while the flow was still dialling): the pipeline's connect and relay honour it.
   */
  revoked?: string;
}

export function newFlowId(): string {
  return randomUUID();
}

export function elapsedNs(flow: Flow): number {
  return Number(process.hrtime.bigint() - flow.startedAt);
}
