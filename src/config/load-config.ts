/**
 * Loads the config file and lays command-line flags over it. Relative paths in the file are relative to the
 * file's directory (so a config and its rules can move together); relative paths on the command line are
 * relative to the working directory, as a shell user expects.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseListenAddress } from './addresses.js';
import { parseAdminListenAddress } from './admin-address.js';
import { DEFAULT_CONFIG, type ChokepointConfig } from './chokepoint-config.js';
import { configFileSchema } from './config-schema.js';
import { DEFAULT_QUARANTINE_CONFIG } from './quarantine-config.js';
import type { ConfigError } from './errors.js';
import { validateSource } from './issues.js';
import { resolveSinkPaths } from '../sinks/sink-config.js';
import { parseYamlSource } from './yaml-source.js';
import { messageOf } from '../error-message.js';

export type ConfigResult = { ok: true; config: ChokepointConfig } | { ok: false; errors: ConfigError[] };

/** The flags of `chokepoint run` that override the file. */
export interface CliOverrides {
  rules?: string;
  http?: string;
  socks?: string;
  /** The DNS listener, HOST:PORT. */
  dns?: string;
  /** Transparent listener (iptables REDIRECT target). */
  transparent?: string;
  /** A path, or "-" for JSON lines on stdout. */
  events?: string;
  /** The admin API listener, HOST:PORT or PORT (loopback). */
  admin?: string;
}

/** `file` of the errors reported for flags. */
export const COMMAND_LINE = 'command line';

/** Every setting at its default, for runs without `--config`; paths relative to `baseDir`. */
export function defaultConfig(baseDir: string): ChokepointConfig {
  return {
    listen: { http: { ...DEFAULT_CONFIG.listen.http }, socks: { ...DEFAULT_CONFIG.listen.socks }, dns: null, transparent: null },
    rulesDir: path.resolve(baseDir, DEFAULT_CONFIG.rulesDir),
    stateDir: path.resolve(baseDir, DEFAULT_CONFIG.stateDir),
    certsDir: path.resolve(baseDir, DEFAULT_CONFIG.certsDir),
    inspect: DEFAULT_CONFIG.inspect,
    events: { ...DEFAULT_CONFIG.events },
    hosts: new Map(),
    dns: { ...DEFAULT_CONFIG.dns, upstreams: [] },
    timeouts: { ...DEFAULT_CONFIG.timeouts },
    limits: { ...DEFAULT_CONFIG.limits },
    quarantine: { ...DEFAULT_QUARANTINE_CONFIG },
    sinks: [],
  };
}

export async function loadConfigFile(file: string): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (problem) {
    const message = messageOf(problem);
    return { ok: false, errors: [{ file, line: 0, path: '', message: `cannot read: ${message}` }] };
  }
  return parseConfigText(file, text);
}

/** Parses the text of config file `file`; pure apart from resolving paths against `file`'s directory. */
export function parseConfigText(file: string, text: string): ConfigResult {
  const parsed = parseYamlSource(file, text);
  if (!parsed.ok) return parsed;
  const validated = validateSource(parsed.source, configFileSchema);
  if (!validated.ok) return validated;
  const config = validated.data;
  const baseDir = path.dirname(path.resolve(file));
  config.rulesDir = path.resolve(baseDir, config.rulesDir);
  config.stateDir = path.resolve(baseDir, config.stateDir);
  config.certsDir = path.resolve(baseDir, config.certsDir);
  if (config.events.file !== null) config.events.file = path.resolve(baseDir, config.events.file);
  if (config.admin?.tokenFile !== undefined) config.admin.tokenFile = path.resolve(baseDir, config.admin.tokenFile);
  config.sinks = resolveSinkPaths(config.sinks, baseDir);
  return { ok: true, config };
}

/** A copy of `config` with the flags that were given applied; each bad flag is reported. */
export function applyCliOverrides(config: ChokepointConfig, overrides: CliOverrides, cwd: string): ConfigResult {
  const errors: ConfigError[] = [];
  const listen = { ...config.listen };
  for (const flag of ['http', 'socks', 'dns', 'transparent'] as const) {
    const text = overrides[flag];
    if (text === undefined) continue;
    const parsed = parseListenAddress(text);
    if (parsed.ok) listen[flag] = parsed.listen;
    else errors.push({ file: COMMAND_LINE, line: 0, path: `--${flag}`, message: parsed.message });
  }
  if (overrides.events !== undefined && config.sinks.length > 0) {
    errors.push({ file: COMMAND_LINE, line: 0, path: '--events', message: 'the config file lists sinks; add a "type: file" or "type: stdout" sink there instead' });
  }
  for (const flag of ['rules', 'events'] as const) {
    if (overrides[flag] === '') {
      errors.push({ file: COMMAND_LINE, line: 0, path: `--${flag}`, message: 'is empty' });
    }
  }
  if (overrides.admin !== undefined) {
    const parsed = parseAdminListenAddress(overrides.admin);
    if (parsed.ok) listen.admin = parsed.listen;
    else errors.push({ file: COMMAND_LINE, line: 0, path: '--admin', message: parsed.message });
  }
  if (errors.length > 0) return { ok: false, errors };

  const { rules, events } = overrides;
  return {
    ok: true,
    config: {
      ...config,
      listen,
      rulesDir: rules === undefined ? config.rulesDir : path.resolve(cwd, rules),
      events: events === undefined ? config.events : { ...config.events, file: events === '-' ? null : path.resolve(cwd, events) },
    },
  };
}
