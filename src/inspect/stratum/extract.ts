/**
 * Facts worth an event from one mining message: miner agent, login (redacted), worker, algorithm.
 * Only explicit data is reported; nothing is guessed from the dialect alone, except that BIP 310
 * version rolling (`mining.configure`) exists only for SHA-256d (Bitcoin) ASICs.
 */
import type { StratumFacts } from '../types.js';
import { arrayField, field, isJsonObject, objectField, stringField, type JsonObject } from './json-shape.js';
import { ETHEREUM_STRATUM_1 } from './result-shapes.js';
import type { MessageVerdict } from './verdict.js';

export type ExtractedFacts = Omit<StratumFacts, 'dialect' | 'method'>;

const REDACTED_PREFIX_LENGTH = 6;
const MAX_AGENT_LENGTH = 160;
const MAX_NAME_LENGTH = 64;

/** Control characters and anything that could forge a log line are replaced; long values are cut. */
export function cleanText(value: string, maxLength: number): string {
  const printable = value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  return printable.length > maxLength ? `${printable.slice(0, maxLength)}…` : printable;
}

/** A wallet or login cut to a short prefix so that events never carry a full wallet. */
export function redactLogin(login: string): string {
  return `${cleanText(login.slice(0, REDACTED_PREFIX_LENGTH), REDACTED_PREFIX_LENGTH)}…`;
}

/**
 * Splits `wallet.worker` / `wallet/worker` (Stratum authorize, EthProxy login) into its parts.
 * E-mail logins (MinerGate) contain dots that are not worker separators, so they stay whole.
 */
function loginFacts(login: string | undefined): ExtractedFacts {
  if (login === undefined || login === '') return {};
  const separator = login.includes('@') ? -1 : login.search(/[./]/);
  if (separator <= 0 || separator === login.length - 1) return { login: redactLogin(login) };
  return { login: redactLogin(login.slice(0, separator)), worker: cleanText(login.slice(separator + 1), MAX_NAME_LENGTH) };
}

function agentFacts(agent: unknown): ExtractedFacts {
  return typeof agent === 'string' && agent !== '' ? { agent: cleanText(agent, MAX_AGENT_LENGTH) } : {};
}

/** `algo` is an array (XMRig login, pool algorithm first) or a string (jobs, submits). */
function algorithmFacts(container: JsonObject | undefined): ExtractedFacts {
  if (container === undefined) return {};
  const algo = field(container, 'algo');
  const first: unknown = Array.isArray(algo) ? algo[0] : algo;
  return typeof first === 'string' && first !== '' ? { algorithm: cleanText(first, MAX_NAME_LENGTH) } : {};
}

function workerFacts(worker: unknown): ExtractedFacts {
  return typeof worker === 'string' && worker !== '' ? { worker: cleanText(worker, MAX_NAME_LENGTH) } : {};
}

function stringAt(list: unknown[] | undefined, index: number): string | undefined {
  const value = list?.[index];
  return typeof value === 'string' ? value : undefined;
}

function fromRequest(message: JsonObject, method: string): ExtractedFacts {
  const paramsObject = objectField(message, 'params');
  const paramsList = arrayField(message, 'params');
  switch (method.toLowerCase()) {
    case 'login': // XMRig, xmr-stak, MinerGate
      if (paramsObject === undefined) return {};
      return {
        ...loginFacts(stringField(paramsObject, 'login')),
        ...workerFacts(field(paramsObject, 'rigid')),
        ...agentFacts(field(paramsObject, 'agent')),
        ...algorithmFacts(paramsObject),
      };
    case 'mining.subscribe': {
      const agent = stringAt(paramsList, 0);
      return agent?.toLowerCase() === ETHEREUM_STRATUM_1 ? {} : agentFacts(agent);
    }
    case 'mining.hello':
      return paramsObject === undefined ? {} : agentFacts(field(paramsObject, 'agent'));
    case 'mining.authorize':
      return loginFacts(stringAt(paramsList, 0));
    case 'mining.configure': {
      const extensions = paramsList?.[0];
      return Array.isArray(extensions) && extensions.includes('version-rolling') ? { algorithm: 'sha256d' } : {};
    }
    case 'eth_submitlogin': // Claymore and dwarfpool add a top-level "worker" key
      return { ...loginFacts(stringAt(paramsList, 0)), ...workerFacts(field(message, 'worker')) };
    case 'getblocktemplate': {
      const request = paramsList?.[0] ?? paramsObject; // Monero daemon mode names the wallet
      return isJsonObject(request) ? loginFacts(stringField(request, 'wallet_address')) : {};
    }
    default:
      return algorithmFacts(paramsObject);
  }
}

function fromResponseOrPush(message: JsonObject): ExtractedFacts {
  const result = objectField(message, 'result');
  if (result !== undefined) return algorithmFacts(objectField(result, 'job') ?? result);
  const params = objectField(message, 'params');
  if (params === undefined) return {};
  if (stringField(message, 'type')?.toLowerCase() === 'auth') {
    const siteKey = stringField(params, 'site_key');
    return siteKey === undefined ? {} : { login: redactLogin(siteKey) };
  }
  return algorithmFacts(params);
}

/** Facts carried by `message`, which `verdict` already classified as mining. */
export function extractFacts(message: unknown, verdict: MessageVerdict): ExtractedFacts {
  if (!isJsonObject(message)) return {};
  return verdict.method !== undefined ? fromRequest(message, verdict.method) : fromResponseOrPush(message);
}
