/**
 * Mining signals of HTTP getwork / getblocktemplate traffic (protocol-notes §1.3.4) read from heads
 * and from bodies that were cut at the inspection cap.
 */
import type { Confidence, HttpFacts, StratumDialect } from '../types.js';
import type { HttpResponseHead } from '../http/head.js';
import { cleanText, redactLogin, type ExtractedFacts } from './extract.js';

export interface HeaderSignal {
  dialect: StratumDialect;
  confidence: Confidence;
  evidence: string;
}

/** Miner software that speaks HTTP getwork / GBT (ET 2016067 matches any UA containing "miner"). */
const MINER_USER_AGENT = /cpuminer|cgminer|bfgminer|sgminer|ethminer|xmrig|minerd/i;
const MAX_AGENT_LENGTH = 160;

/**
 * Cheap pre-checks on headers Node has already parsed (the plain-HTTP entry): whether an exchange can
 * carry any signal the classifier looks for, so that the common GET with an ordinary User-Agent skips
 * re-serialising and re-parsing its head. Kept next to the signals they mirror.
 */
export function requestMayCarryMining(headers: Readonly<Record<string, string | string[] | undefined>>, hasBody: boolean): boolean {
  // Every copy of a repeated User-Agent counts (Node's `headers` keeps only the first one).
  const agent = headers['user-agent'];
  const agents = agent === undefined ? [] : Array.isArray(agent) ? agent : [agent];
  return hasBody || headers['x-mining-extensions'] !== undefined || agents.some((value) => MINER_USER_AGENT.test(value));
}

export function responseMayCarryMining(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  return headers['x-stratum'] !== undefined || headers['x-long-polling'] !== undefined || headers['x-reject-reason'] !== undefined;
}

export function requestHeaderSignals(head: HttpFacts): HeaderSignal[] {
  const signals: HeaderSignal[] = [];
  if (head.headers['x-mining-extensions'] !== undefined) signals.push({ dialect: 'getwork', confidence: 'high', evidence: 'X-Mining-Extensions request header' });
  if (head.userAgent !== undefined && MINER_USER_AGENT.test(head.userAgent)) signals.push({ dialect: 'getwork', confidence: 'medium', evidence: 'miner User-Agent' });
  return signals;
}

export function responseHeaderSignals(head: HttpResponseHead): HeaderSignal[] {
  const signals: HeaderSignal[] = [];
  if (head.headers['x-stratum'] !== undefined) signals.push({ dialect: 'getwork', confidence: 'high', evidence: 'X-Stratum response header' });
  if (head.headers['x-long-polling'] !== undefined) signals.push({ dialect: 'getwork', confidence: 'medium', evidence: 'X-Long-Polling response header' });
  if (head.headers['x-reject-reason'] !== undefined) signals.push({ dialect: 'getwork', confidence: 'medium', evidence: 'X-Reject-Reason response header' });
  return signals;
}

/** The user name of Basic credentials, which getwork miners use for the pool login. */
function basicUser(authorization: string | undefined): string | undefined {
  const match = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
  if (match === null) return undefined;
  const user = Buffer.from(match[1] ?? '', 'base64').toString('utf8').split(':', 1)[0];
  return user === undefined || user === '' ? undefined : user;
}

/** Facts a request head adds to any mining finding of that request: the client and its login. */
export function requestHeadFacts(head: HttpFacts): ExtractedFacts {
  const user = basicUser(head.headers['authorization']);
  return {
    ...(head.userAgent !== undefined && head.userAgent !== '' ? { agent: cleanText(head.userAgent, MAX_AGENT_LENGTH) } : {}),
    ...(user !== undefined ? { login: redactLogin(user) } : {}),
  };
}

const METHOD_MEMBER = /"method"\s*:\s*("(?:[^"\\]|\\.){1,100}")/;

/**
 * The `method` of a JSON-RPC body that was cut at the inspection cap (submitblock carries a whole
 * block), so the body cannot be parsed. The string literal is decoded with JSON.parse, so unicode
 * escapes still resolve. Only the request message itself is reconstructed, not its params.
 */
export function methodOfTruncatedBody(body: Buffer): { method: string } | undefined {
  const match = METHOD_MEMBER.exec(body.toString('utf8'));
  if (match === null) return undefined;
  try {
    const method: unknown = JSON.parse(match[1] ?? '');
    return typeof method === 'string' ? { method } : undefined;
  } catch {
    return undefined;
  }
}

/** ET 2017879: a getblocktemplate answer announcing `"coinbasetxn"`, readable even when truncated. */
export function mentionsCoinbaseTransaction(body: Buffer): boolean {
  return body.includes('"coinbasetxn"');
}
