/**
 * Method tables of the JSON mining dialects (protocol-notes §1.3.1–1.3.4) and the classification of
 * one parsed message.
 *
 * Confidence policy (false positives on ordinary JSON-RPC matter: agents talk JSON-RPC all day):
 * - high: the method name alone is mining-only (`mining.subscribe`, `eth_submitLogin`, `getwork`,
 *   `submitblock`...), or a generic name carries a mining-only parameter shape (`login` with an
 *   `agent` or `algo`, or with `login` + `pass` where the login looks like a wallet; `submit` with a
 *   hex nonce and a 64-hex result; a `job` push with a hex blob).
 * - medium: mining-specific but seen alone it could be something else: an unknown `mining.*` method
 *   (Zeek calls these Possible_Mining), `login` with `login` + `pass` and a non-wallet login
 *   (MinerGate used e-mail logins), `keepalived`/`getjob`, `eth_getWork` and `eth_submitHashrate`
 *   (also standard Ethereum node RPC), `client.*` pool commands.
 * - nothing: a bare `{"method":"login"}` or a login form without `pass`/`agent`, and every other method.
 *
 * Method names are compared lower-cased (cpuminer compares them with strcasecmp).
 */
import { classifyCoinHive } from './coinhive.js';
import { isCryptonoteJob } from './job-shapes.js';
import { arrayField, field, isHex, isJsonObject, objectField, stringField, type JsonObject } from './json-shape.js';
import { classifyResult, ETHEREUM_STRATUM_1 } from './result-shapes.js';
import type { MessageVerdict } from './verdict.js';

type Verdict = Omit<MessageVerdict, 'method'>;
/** Decides from a request's params; undefined when the params do not look like mining. */
type MethodRule = (params: unknown) => Verdict | undefined;

const always =
  (verdict: Verdict): MethodRule =>
  () =>
    verdict;

const stratumClient = (reason: string): MethodRule => always({ dialect: 'stratum-v1', confidence: 'high', role: 'client', reason });
const stratumServer = (reason: string): MethodRule => always({ dialect: 'stratum-v1', confidence: 'high', role: 'server', reason });

function subscribeRule(params: unknown): Verdict {
  const announcesEthereumStratum = Array.isArray(params) && params.some((p) => typeof p === 'string' && p.toLowerCase() === ETHEREUM_STRATUM_1);
  return announcesEthereumStratum
    ? { dialect: 'ethereum-stratum-1', confidence: 'high', role: 'client', reason: 'EthereumStratum/1.0.0 subscribe' }
    : { dialect: 'stratum-v1', confidence: 'high', role: 'client', reason: 'stratum subscribe' };
}

/** EthereumStratum/1.0.0 notify: [job_id, seedhash, headerhash, clean] with 64-hex hashes (NH-1). */
function notifyRule(params: unknown): Verdict {
  const isEthereumStratum1 = Array.isArray(params) && params.length === 4 && isHex(params[1], 64, 64) && isHex(params[2], 64, 64);
  return { dialect: isEthereumStratum1 ? 'ethereum-stratum-1' : 'stratum-v1', confidence: 'high', role: 'server', reason: 'stratum job notify' };
}

const WALLET_PATTERNS = [
  /^[1-9A-HJ-NP-Za-km-z]{26,110}$/, // base58: Monero (95/106), Bitcoin legacy, Zcash t-addresses
  /^0x[0-9a-fA-F]{40}$/, // Ethereum
  /^(bc|ltc|tb)1[02-9ac-hj-np-z]{20,90}$/, // bech32
];

/** A login whose wallet part (before a `.worker`, `/worker` or `+difficulty` suffix) is an address. */
function looksLikeWallet(login: string): boolean {
  const wallet = login.split(/[./+]/, 1)[0] ?? '';
  return WALLET_PATTERNS.some((pattern) => pattern.test(wallet));
}

function cryptonoteLoginRule(params: unknown): Verdict | undefined {
  if (!isJsonObject(params)) return undefined;
  const login = stringField(params, 'login');
  const hasPass = typeof field(params, 'pass') === 'string';
  if (stringField(params, 'agent') !== undefined || arrayField(params, 'algo') !== undefined) {
    return { dialect: 'cryptonote', confidence: 'high', role: 'client', reason: 'cryptonote login with agent' };
  }
  if (login === undefined || !hasPass) return undefined;
  return looksLikeWallet(login)
    ? { dialect: 'cryptonote', confidence: 'high', role: 'client', reason: 'cryptonote login with a wallet' }
    : { dialect: 'cryptonote', confidence: 'medium', role: 'client', reason: 'cryptonote-style login with pass' };
}

/** XMRig submit: params {id, job_id, nonce (8 hex), result (64 hex)}. */
function cryptonoteSubmitRule(params: unknown): Verdict | undefined {
  if (!isJsonObject(params)) return undefined;
  const shaped = field(params, 'job_id') !== undefined && isHex(field(params, 'nonce'), 8, 8) && isHex(field(params, 'result'), 64, 64);
  return shaped ? { dialect: 'cryptonote', confidence: 'high', role: 'client', reason: 'cryptonote share submit' } : undefined;
}

/** `keepalived` / `getjob`: params {id: <rpc id>}; rare outside mining but generic words. */
function cryptonoteSessionRule(params: unknown): Verdict | undefined {
  if (!isJsonObject(params) || field(params, 'id') === undefined) return undefined;
  return { dialect: 'cryptonote', confidence: 'medium', role: 'client', reason: 'cryptonote session keep-alive or job request' };
}

function cryptonoteJobRule(params: unknown): Verdict | undefined {
  return isCryptonoteJob(params) ? { dialect: 'cryptonote', confidence: 'high', role: 'server', reason: 'cryptonote job push' } : undefined;
}

const ethproxy = (confidence: Verdict['confidence'], reason: string): MethodRule =>
  always({ dialect: 'ethproxy', confidence, role: 'client', reason });

const METHOD_RULES: ReadonlyMap<string, MethodRule> = new Map<string, MethodRule>([
  // Stratum V1 client (§1.3.1) and its server pushes.
  ['mining.subscribe', subscribeRule],
  ['mining.authorize', stratumClient('stratum authorize')],
  ['mining.configure', stratumClient('stratum configure (BIP 310)')],
  ['mining.submit', stratumClient('stratum share submit')],
  ['mining.extranonce.subscribe', stratumClient('stratum extranonce subscribe')],
  ['mining.get_transactions', stratumClient('stratum get_transactions')],
  ['mining.suggest_difficulty', stratumClient('stratum suggest_difficulty')],
  ['mining.notify', notifyRule],
  ['mining.set_difficulty', stratumServer('stratum set_difficulty')],
  ['mining.set_extranonce', stratumServer('stratum set_extranonce')],
  ['mining.set_target', stratumServer('stratum set_target')],
  ['mining.set_version_mask', stratumServer('stratum set_version_mask (BIP 310)')],
  ['client.reconnect', always({ dialect: 'stratum-v1', confidence: 'medium', role: 'server', reason: 'stratum client.reconnect' })],
  ['client.show_message', always({ dialect: 'stratum-v1', confidence: 'medium', role: 'server', reason: 'stratum client.show_message' })],
  ['client.get_version', always({ dialect: 'stratum-v1', confidence: 'medium', role: 'server', reason: 'stratum client.get_version' })],
  // EthereumStratum/2.0.0 (EIP-1571).
  ['mining.hello', always({ dialect: 'ethereum-stratum-2', confidence: 'high', role: 'client', reason: 'EthereumStratum/2.0.0 hello' })],
  ['mining.noop', always({ dialect: 'ethereum-stratum-2', confidence: 'high', role: 'client', reason: 'EthereumStratum/2.0.0 noop' })],
  // CryptoNote / XMRig / xmr-stak / MinerGate (§1.3.2).
  ['login', cryptonoteLoginRule],
  ['submit', cryptonoteSubmitRule],
  ['keepalived', cryptonoteSessionRule],
  ['getjob', cryptonoteSessionRule],
  ['job', cryptonoteJobRule],
  // EthProxy (§1.3.3); eth_getWork and eth_submitHashrate are also plain Ethereum node RPC.
  ['eth_submitlogin', ethproxy('high', 'EthProxy login')],
  ['eth_submitwork', ethproxy('high', 'EthProxy work submit')],
  ['eth_getwork', ethproxy('medium', 'EthProxy work request')],
  ['eth_submithashrate', ethproxy('medium', 'EthProxy hashrate report')],
  // Bitcoin getwork and getblocktemplate (§1.3.4), also Monero daemon mode.
  ['getwork', always({ dialect: 'getwork', confidence: 'high', role: 'client', reason: 'getwork request' })],
  ['getblocktemplate', always({ dialect: 'getblocktemplate', confidence: 'high', role: 'client', reason: 'getblocktemplate request' })],
  ['submitblock', always({ dialect: 'getblocktemplate', confidence: 'high', role: 'client', reason: 'submitblock' })],
]);

const UNKNOWN_MINING_METHOD: Verdict = { dialect: 'stratum-v1', confidence: 'medium', role: 'client', reason: 'unlisted mining.* method' };

function classifyRequest(message: JsonObject, method: string): MessageVerdict | undefined {
  const lowered = method.toLowerCase();
  const rule = METHOD_RULES.get(lowered);
  const verdict = rule !== undefined ? rule(field(message, 'params')) : lowered.startsWith('mining.') ? UNKNOWN_MINING_METHOD : undefined;
  return verdict === undefined ? undefined : { ...verdict, method };
}

/** What one parsed JSON message (request, notification, response or CoinHive message) says about mining. */
export function classifyMessage(message: unknown): MessageVerdict | undefined {
  if (!isJsonObject(message)) return undefined;
  const method = stringField(message, 'method');
  if (method !== undefined) return classifyRequest(message, method);
  const type = stringField(message, 'type');
  const params = objectField(message, 'params');
  if (type !== undefined && params !== undefined) return classifyCoinHive(type, params);
  return field(message, 'result') === undefined ? undefined : classifyResult(field(message, 'result'));
}
