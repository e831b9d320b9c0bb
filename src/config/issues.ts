/**
 * Turns zod issues into ConfigErrors that name the file, the line and the key path, with messages written
 * for someone editing YAML (a "mapping" and a "list", not an "object" and an "array").
 */
import type { z } from 'zod';
import { formatKeyPath, quoteValue, type ConfigError } from './errors.js';
import type { YamlSource } from './yaml-source.js';

/** Validates `source.value` against `schema`; on failure every issue becomes a located ConfigError. */
export function validateSource<Schema extends z.ZodType>(
  source: YamlSource,
  schema: Schema,
): { ok: true; data: z.output<Schema> } | { ok: false; errors: ConfigError[] } {
  // An empty file is an empty mapping, so that it reports the keys it lacks rather than "got null".
  const result = schema.safeParse(source.value ?? {}, { reportInput: true });
  if (result.success) return { ok: true, data: result.data };
  const errors = result.error.issues.flatMap((issue) => issueToErrors(source, issue));
  // Zod reports in schema order; an operator reads the file top to bottom.
  return { ok: false, errors: errors.sort((a, b) => a.line - b.line) };
}

/**
 * Top-level keys whose values are never quoted back: `admin` holds the admin API's bearer token, and a
 * mistyped token (an unquoted all-digit one, `admin: TOKEN`) is still the token, while configuration
 * errors go to stderr and from there to logs. Only the value's kind is said.
 */
const SECRET_KEYS: ReadonlySet<PropertyKey> = new Set(['admin']);

function issueToErrors(source: YamlSource, issue: z.core.$ZodIssue): ConfigError[] {
  const describe = SECRET_KEYS.has(issue.path[0] ?? '') ? describeKind : describeValue;
  const located = (path: readonly PropertyKey[], message: string): ConfigError => ({
    file: source.file,
    line: source.lineOf(path),
    path: formatKeyPath(path),
    message,
  });
  switch (issue.code) {
    case 'unrecognized_keys':
      // One error per key, each on the key's own line.
      return issue.keys.map((key) => located([...issue.path, key], `unknown key ${JSON.stringify(key)}`));
    case 'invalid_type':
      return [located(issue.path, describeInvalidType(issue.expected, issue.input, describe))];
    case 'invalid_value':
    {
      const choices = issue.values.map((value) => JSON.stringify(value)).join(', ');
      return [located(issue.path, `must be one of ${choices}; got ${describe(issue.input)}`)];
    }
    case 'too_small':
      if (!isNumeric(issue.origin)) return [located(issue.path, issue.message)];
      return [located(issue.path, `must be at least ${issue.minimum}; got ${describe(issue.input)}`)];
    case 'too_big':
      if (!isNumeric(issue.origin)) return [located(issue.path, issue.message)];
      return [located(issue.path, `must be at most ${issue.maximum}; got ${describe(issue.input)}`)];
    default:
      return [located(issue.path, issue.message)];
  }
}

/** Size checks on strings and lists carry messages written in the schema; numbers get a generic one. */
function isNumeric(origin: string): boolean {
  return origin === 'number' || origin === 'int';
}

function describeInvalidType(expected: string, input: unknown, describe: (value: unknown) => string): string {
  if (input === undefined) return 'is required';
  return `expected ${YAML_TYPE_NAMES[expected] ?? expected}, got ${describe(input)}`;
}

const YAML_TYPE_NAMES: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
};

/** The value's kind only ("a string", "a number"), for values that may be secrets. */
function describeKind(value: unknown): string {
  if (value === null || value === undefined || Array.isArray(value) || typeof value === 'object') return describeValue(value);
  return `${YAML_TYPE_NAMES[typeof value] ?? typeof value} (value not shown)`;
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return quoteValue(value);
  return String(value);
}
