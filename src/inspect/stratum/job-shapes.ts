/** Shapes of mining work units that pools push, shared by the request, response and CoinHive readers. */
import { field, isHex, isJsonObject } from './json-shape.js';

/**
 * A CryptoNote job (XMRig login result, `job` push, CoinHive `job`): a hex `blob` (about 152+ digits
 * in captures; 64 is the floor accepted here), a `job_id` and a hex `target` (8 or 16 digits in practice).
 */
export function isCryptonoteJob(value: unknown): boolean {
  if (!isJsonObject(value)) return false;
  return isHex(field(value, 'blob'), 64) && field(value, 'job_id') !== undefined && isHex(field(value, 'target'), 8, 64);
}

/** An EthProxy / eth_getWork work package: at least three 0x-prefixed 64-hex strings (header, seed, target). */
export function isEthWorkPackage(value: unknown): boolean {
  if (!Array.isArray(value) || value.length < 3) return false;
  return value.slice(0, 3).every((item) => typeof item === 'string' && item.startsWith('0x') && isHex(item, 64, 64));
}
