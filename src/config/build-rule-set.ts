/**
 * Turns the texts of the rules files into a validated RuleSet: parse each file, validate it, give every rule
 * its id, default ports and source line, then check what no single file can (a source range or a credential
 * user claimed twice, duplicate rule ids, `unknown_agent` naming a missing agent). Pure: no file system.
 */
import path from 'node:path';
import { UNKNOWN_AGENT_DENY } from '../policy/compile.js';
import { DEFAULT_DETECTION_ACTIONS, type AgentPolicy, type Rule, type RuleList, type RuleSet } from '../policy/types.js';
import { interceptionOf } from './ssh-interception-schema.js';
import { formatKeyPath, type ConfigError } from './errors.js';
import { validateSource } from './issues.js';
import { ANY_PORT } from './ports.js';
import { agentFileSchema, policyFileSchema, type ParsedPolicyFile, type ParsedRule } from './schema.js';
import { parseYamlSource, type YamlSource } from './yaml-source.js';

export const AGENT_FILE_EXTENSION = '.yaml';

export interface RuleFileText {
  file: string;
  text: string;
}

export interface RuleFileTexts {
  /** `rules/policy.yaml`; absent means the safe defaults (unknown clients denied, no global denies). */
  policy?: RuleFileText;
  /** `rules/agents/<name>.yaml`, one per agent. */
  agents: RuleFileText[];
}

export type RuleSetResult = { ok: true; ruleSet: RuleSet } | { ok: false; errors: ConfigError[] };

/** Allow and alert rules cover web traffic unless they say otherwise; a deny rule covers every port. */
const DEFAULT_ALLOW_PORTS = [
  { from: 80, to: 80 },
  { from: 443, to: 443 },
];

/** A place in a file, for cross-file checks that must point at both claims. */
interface Location {
  file: string;
  line: number;
  path: readonly PropertyKey[];
}

/** A value that must be unique across the rule set, where it was written and by whom. */
interface Claim {
  key: string;
  owner: string;
  at: Location;
}

interface AgentClaims {
  sources: Claim[];
  users: Claim[];
  ruleIds: Claim[];
}

export function buildRuleSet(texts: RuleFileTexts): RuleSetResult {
  const errors: ConfigError[] = [];
  const claims: AgentClaims = { sources: [], users: [], ruleIds: [] };

  const policy = texts.policy ? readPolicyFile(texts.policy, errors, claims) : undefined;
  const agents: AgentPolicy[] = [];
  for (const text of texts.agents) {
    const agent = readAgentFile(text, errors, claims);
    if (agent) agents.push(agent);
  }

  errors.push(
    ...duplicateClaims(claims.sources, (claim, first) =>
      `${claim.key} is also claimed by agent "${first.owner}" (${where(first.at)}); ` +
        'a source range belongs to one agent',
    ),
    ...duplicateClaims(claims.users, (claim, first) =>
      `credential user "${claim.key}" is also defined by agent "${first.owner}" (${where(first.at)})`,
    ),
    ...duplicateClaims(claims.ruleIds, (claim, first) =>
      `rule id "${claim.key}" is also used at ${where(first.at)}; rule ids must be unique`,
    ),
  );
  if (policy) errors.push(...checkUnknownAgent(policy, texts.agents));

  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    ruleSet: {
      globalDeny: policy?.globalDeny ?? [],
      unknownAgent: policy?.parsed.unknown_agent ?? UNKNOWN_AGENT_DENY,
      requireCredentials: policy?.parsed.require_credentials ?? false,
      agents,
      detectionActions: policy?.parsed.detections ?? { ...DEFAULT_DETECTION_ACTIONS },
    },
  };
}

/** The agent name a file must declare: its base name, so that `coder-7.yaml` is the file to open. */
function agentNameOfFile(file: string): string {
  return path.basename(file, AGENT_FILE_EXTENSION);
}

interface LoadedPolicy {
  parsed: ParsedPolicyFile;
  globalDeny: Rule[];
  source: YamlSource;
}

function readPolicyFile(text: RuleFileText, errors: ConfigError[], claims: AgentClaims): LoadedPolicy | undefined {
  const source = parseAndValidate(text, errors);
  if (!source) return undefined;
  const validated = validateSource(source, policyFileSchema);
  if (!validated.ok) {
    errors.push(...validated.errors);
    return undefined;
  }
  errors.push(...interceptOnDeny(validated.data.deny, source));
  const globalDeny = buildRules(validated.data.deny, 'deny', 'global', source, claims);
  return { parsed: validated.data, globalDeny, source };
}

function readAgentFile(text: RuleFileText, errors: ConfigError[], claims: AgentClaims): AgentPolicy | undefined {
  const source = parseAndValidate(text, errors);
  if (!source) return undefined;
  const validated = validateSource(source, agentFileSchema);
  if (!validated.ok) {
    errors.push(...validated.errors);
    return undefined;
  }
  const parsed = validated.data;

  const expectedName = agentNameOfFile(text.file);
  if (parsed.agent !== expectedName) {
    errors.push(
      located(
        { file: text.file, line: source.lineOf(['agent']), path: ['agent'] },
        `"${parsed.agent}" does not match the file name ${path.basename(text.file)}; name the file ` +
          `${parsed.agent}${AGENT_FILE_EXTENSION} or the agent "${expectedName}"`,
      ),
    );
    return undefined;
  }

  errors.push(...interceptOnDeny(parsed.deny, source));
  parsed.identify.sources.forEach((cidr, index) => {
    const at = locate(source, ['identify', 'sources', index]);
    claims.sources.push({ key: cidr, owner: parsed.agent, at });
  });
  parsed.identify.credentials.forEach((credential, index) => {
    const at = locate(source, ['identify', 'credentials', index, 'user']);
    claims.users.push({ key: credential.user, owner: parsed.agent, at });
  });

  return {
    name: parsed.agent,
    mode: parsed.mode,
    sources: parsed.identify.sources,
    credentials: parsed.identify.credentials.map((credential) => ({
      user: credential.user,
      tokenSha256: credential.token_sha256,
    })),
    rules: [
      ...buildRules(parsed.allow, 'allow', parsed.agent, source, claims),
      ...buildRules(parsed.alert, 'alert', parsed.agent, source, claims),
      ...buildRules(parsed.deny, 'deny', parsed.agent, source, claims),
    ],
    source: { file: source.file, line: source.lineOf(['agent']) },
    ...(parsed.budgets ? { budgets: parsed.budgets } : {}),
  };
}

function parseAndValidate(text: RuleFileText, errors: ConfigError[]): YamlSource | undefined {
  const parsed = parseYamlSource(text.file, text.text);
  if (!parsed.ok) {
    errors.push(...parsed.errors);
    return undefined;
  }
  return parsed.source;
}

/** Gives each rule its id (`<owner>.<list>.<index>` unless written), default ports and source line. */
function buildRules(
  parsedRules: readonly ParsedRule[],
  list: RuleList,
  owner: string,
  source: YamlSource,
  claims: AgentClaims,
): Rule[] {
  return parsedRules.map((parsed, index) => {
    const at = locate(source, [list, index]);
    const id = parsed.id ?? `${owner}.${list}.${index}`;
    claims.ruleIds.push({ key: id, owner, at: parsed.id === undefined ? at : locate(source, [list, index, 'id']) });
    return {
      id,
      list,
      ...(parsed.host !== undefined && { host: parsed.host }),
      ...(parsed.cidr !== undefined && { cidr: parsed.cidr }),
      ports: parsed.ports ?? (list === 'deny' ? [{ ...ANY_PORT }] : DEFAULT_ALLOW_PORTS.map((range) => ({ ...range }))),
      // An intercepting rule exists to carry SSH, whatever its port.
      ...(parsed.protocols !== undefined ? { protocols: parsed.protocols } : parsed.intercept === 'ssh' ? { protocols: ['ssh' as const] } : {}),
      ...(parsed.reason !== undefined && { reason: parsed.reason }),
      ...(parsed.intercept === 'ssh' && parsed.ssh !== undefined && { intercept: interceptionOf(parsed.ssh) }),
      source: { file: source.file, line: at.line },
    };
  });
}

/** A deny rule refuses the flow before it could be intercepted: `intercept` there is a mistake. */
function interceptOnDeny(rules: readonly ParsedRule[], source: YamlSource): ConfigError[] {
  return rules.flatMap((rule, index) =>
    rule.intercept === undefined
      ? []
      : [located(locate(source, ['deny', index, 'intercept']), 'intercept applies to allow and alert rules; a deny rule refuses the flow')],
  );
}

/**
 * `unknown_agent` must name an agent file that exists. Checked against the file names, not the agents that
 * loaded, so that a broken agent file reports its own errors instead of also making this one appear.
 */
function checkUnknownAgent(policy: LoadedPolicy, agentTexts: readonly RuleFileText[]): ConfigError[] {
  const target = policy.parsed.unknown_agent;
  if (target === UNKNOWN_AGENT_DENY) return [];
  if (agentTexts.some((text) => agentNameOfFile(text.file) === target)) return [];
  return [
    located(
      locate(policy.source, ['unknown_agent']),
      `there is no agent "${target}" (expected agents/${target}${AGENT_FILE_EXTENSION}); ` +
        `write "${UNKNOWN_AGENT_DENY}" to refuse unknown clients`,
    ),
  ];
}

/** Every claim after the first on the same key is an error that also names the first. */
function duplicateClaims(claims: readonly Claim[], message: (claim: Claim, first: Claim) => string): ConfigError[] {
  const firsts = new Map<string, Claim>();
  const errors: ConfigError[] = [];
  for (const claim of claims) {
    const first = firsts.get(claim.key);
    if (first) errors.push(located(claim.at, message(claim, first)));
    else firsts.set(claim.key, claim);
  }
  return errors;
}

function locate(source: YamlSource, keyPath: readonly PropertyKey[]): Location {
  return { file: source.file, line: source.lineOf(keyPath), path: keyPath };
}

function located(at: Location, message: string): ConfigError {
  return { file: at.file, line: at.line, path: formatKeyPath(at.path), message };
}

function where(at: Location): string {
  return `${at.file}:${at.line}`;
}
