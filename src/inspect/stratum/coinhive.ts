/**
 * CoinHive-style browser-miner messages (protocol-notes §1.3.6): `{"type": ..., "params": {...}}`
 * over WebSocket. `type` is a common key in web apps, so each type also needs its params shape.
 */
import { isCryptonoteJob } from './job-shapes.js';
import { field, isHex, stringField, type JsonObject } from './json-shape.js';
import type { MessageVerdict } from './verdict.js';

const coinhive = (confidence: MessageVerdict['confidence'], role: MessageVerdict['role'], reason: string): MessageVerdict => ({
  dialect: 'coinhive',
  confidence,
  role,
  reason,
});

export function classifyCoinHive(type: string, params: JsonObject): MessageVerdict | undefined {
  switch (type.toLowerCase()) {
    case 'auth':
      return stringField(params, 'site_key') !== undefined ? coinhive('high', 'client', 'CoinHive auth with site key') : undefined;
    case 'submit':
      return field(params, 'job_id') !== undefined && isHex(field(params, 'nonce'), 8, 8) && isHex(field(params, 'result'), 64, 64)
        ? coinhive('high', 'client', 'CoinHive share submit')
        : undefined;
    case 'job':
      return isCryptonoteJob(params) ? coinhive('high', 'server', 'CoinHive job') : undefined;
    case 'authed':
      return field(params, 'hashes') !== undefined && field(params, 'token') !== undefined ? coinhive('medium', 'server', 'CoinHive authed') : undefined;
    case 'hash_accepted':
      return typeof field(params, 'hashes') === 'number' ? coinhive('medium', 'server', 'CoinHive hash accepted') : undefined;
    default:
      return undefined;
  }
}
