/**
 * Server responses recognised by the shape of their `result` (protocol-notes §1.3.1–1.3.4): responses
 * carry no method, so the structure is the evidence.
 */
import { isCryptonoteJob, isEthWorkPackage } from './job-shapes.js';
import { field, isHex, isJsonObject, objectField, stringField, type JsonObject } from './json-shape.js';
import type { MessageVerdict } from './verdict.js';

/** The protocol token of NiceHash's EthereumStratum/1.0.0, lower-cased for comparison. */
export const ETHEREUM_STRATUM_1 = 'ethereumstratum/1.0.0';

const server = (dialect: MessageVerdict['dialect'], reason: string): MessageVerdict => ({ dialect, confidence: 'high', role: 'server', reason });

/** Strings of an array and of the arrays directly inside it (the subscription list nests two deep). */
function stringsTwoLevelsDeep(list: unknown[]): string[] {
  return list.flatMap((item) => (Array.isArray(item) ? item : [item])).filter((item): item is string => typeof item === 'string');
}

/**
 * Subscribe results: `[[["mining.set_difficulty", id], ["mining.notify", id]], "<extranonce1>", <size>]`,
 * the older flat `[["mining.notify", id], ...]`, and EthereumStratum/1.0.0's
 * `[["mining.notify", id, "EthereumStratum/1.0.0"], "<extranonce>"]`.
 */
function classifyArrayResult(result: unknown[]): MessageVerdict | undefined {
  if (isEthWorkPackage(result)) return server('ethproxy', 'EthProxy work package');
  const subscriptions = result[0];
  if (!Array.isArray(subscriptions)) return undefined;
  const names = stringsTwoLevelsDeep(subscriptions).map((name) => name.toLowerCase());
  if (names.includes(ETHEREUM_STRATUM_1)) return server('ethereum-stratum-1', 'EthereumStratum/1.0.0 subscribe result');
  if (names.some((name) => name.startsWith('mining.'))) return server('stratum-v1', 'stratum subscribe result');
  return undefined;
}

function isBlockTemplate(result: JsonObject): boolean {
  if (field(result, 'coinbasetxn') !== undefined || field(result, 'blocktemplate_blob') !== undefined) return true;
  return field(result, 'previousblockhash') !== undefined && field(result, 'coinbasevalue') !== undefined;
}

function classifyObjectResult(result: JsonObject): MessageVerdict | undefined {
  if (isCryptonoteJob(objectField(result, 'job'))) return server('cryptonote', 'cryptonote login result with job');
  if (isCryptonoteJob(result)) return server('cryptonote', 'cryptonote job');
  if (stringField(result, 'proto')?.toLowerCase().startsWith('ethereumstratum/2')) return server('ethereum-stratum-2', 'EthereumStratum/2.0.0 hello result');
  if (isBlockTemplate(result)) return server('getblocktemplate', 'block template');
  if (isHex(field(result, 'data'), 256, 256) && isHex(field(result, 'target'), 64, 64)) return server('getwork', 'getwork work unit');
  return undefined;
}

export function classifyResult(result: unknown): MessageVerdict | undefined {
  if (Array.isArray(result)) return classifyArrayResult(result);
  return isJsonObject(result) ? classifyObjectResult(result) : undefined;
}
