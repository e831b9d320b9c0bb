/**
 * Parses one YAML file into plain data while keeping its syntax tree, so that a validation error found
 * later on the plain data (a key path such as `allow[2].ports[1]`) can be traced back to a line.
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, visit, type Document } from 'yaml';
import type { ConfigError } from './errors.js';
import { messageOf } from '../error-message.js';

export interface YamlSource {
  file: string;
  /** The document as plain data (`null` for an empty document). */
  value: unknown;
  /** 1-based line of the node at `path`, or of its nearest ancestor that exists in the file. */
  lineOf(path: readonly PropertyKey[]): number;
}

export type YamlParseResult = { ok: true; source: YamlSource } | { ok: false; errors: ConfigError[] };

/** Parses `text` (the contents of `file`); never throws, reports every syntax problem with its line. */
export function parseYamlSource(file: string, text: string): YamlParseResult {
  const lineCounter = new LineCounter();
  // prettyErrors off: we print our own `file:line:` prefix, the library's would repeat it with a snippet.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineAt = (offset: number): number => lineCounter.linePos(offset).line;

  // Warnings are errors too: an unresolved tag such as `!foo 1` silently turns a value into a string,
  // and a config that quietly means something else than it says is how a policy gets widened by accident.
  const errors: ConfigError[] = [...doc.errors, ...doc.warnings].map((problem) => ({
    file,
    line: lineAt(problem.pos[0]),
    path: '',
    message: problem.message,
  }));
  errors.push(...unresolvedAliases(file, doc, lineAt));
  if (errors.length > 0) return { ok: false, errors };

  let value: unknown;
  try {
    value = doc.toJS();
  } catch (problem) {
    // toJS refuses alias bombs ("Excessive alias count…"); report it rather than let it escape.
    const message = messageOf(problem);
    return { ok: false, errors: [{ file, line: 0, path: '', message }] };
  }

  return {
    ok: true,
    source: { file, value, lineOf: (path) => lineOfPath(doc, path, lineAt) },
  };
}

/** `*name` with no `&name` before it: the library only notices when converting, and without a position. */
function unresolvedAliases(file: string, doc: Document, lineAt: (offset: number) => number): ConfigError[] {
  const errors: ConfigError[] = [];
  visit(doc, {
    Alias(_key, alias) {
      if (alias.resolve(doc) === undefined) {
        errors.push({
          file,
          line: alias.range ? lineAt(alias.range[0]) : 0,
          path: '',
          message: `alias *${alias.source} has no anchor &${alias.source} before it`,
        });
      }
    },
  });
  return errors;
}

/**
 * Walks the syntax tree along `path`. A mapping key reports the line of the key itself (where the operator
 * reads `ports:`), a sequence item the line of the item. Aliases are followed to the anchored node, which is
 * where the offending value is written.
 */
function lineOfPath(doc: Document, path: readonly PropertyKey[], lineAt: (offset: number) => number): number {
  let node: unknown = doc.contents;
  let line = rangeStart(node, lineAt) ?? 1;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (pair === undefined) break;
      line = rangeStart(pair.key, lineAt) ?? line;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item: unknown = node.items[segment];
      if (item === undefined) break;
      line = rangeStart(item, lineAt) ?? line;
      node = item;
    } else {
      break;
    }
  }
  return line;
}

function rangeStart(node: unknown, lineAt: (offset: number) => number): number | undefined {
  if (isScalar(node) || isMap(node) || isSeq(node) || isAlias(node)) {
    return node.range ? lineAt(node.range[0]) : undefined;
  }
  return undefined;
}
