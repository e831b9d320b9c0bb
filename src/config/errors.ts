/**
 * One problem found in a configuration or rules file, precise enough for an operator to jump to it:
 * `rules/agents/coder-7.yaml:9: allow[2].ports[1]: "8000-70000" is not a port range (1-65535)`.
 */
export interface ConfigError {
  /** The file (or directory) at fault, as the caller named it; "command line" for CLI flags. */
  file: string;
  /** 1-based line; 0 when the problem belongs to the whole file (unreadable, missing, misnamed). */
  line: number;
  /** Key path inside the document, e.g. "allow[2].ports[1]"; "" for the document itself. */
  path: string;
  message: string;
}

/**
 * Renders a parsed-document path the way an operator writes it: `allow[2].ports[1]`. Keys that are not
 * plain words (host names in `hosts:`) are quoted, `hosts["example.test"]`, so the dots stay unambiguous.
 */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (!/^[A-Za-z0-9_-]+$/.test(String(segment))) text += `[${JSON.stringify(String(segment))}]`;
    else text += text === '' ? String(segment) : `.${String(segment)}`;
  }
  return text;
}

export function formatConfigError(error: ConfigError): string {
  const where = error.line > 0 ? `${error.file}:${error.line}` : error.file;
  return error.path === '' ? `${where}: ${error.message}` : `${where}: ${error.path}: ${error.message}`;
}

/** One error per line, in file then line order, so related problems read together. */
export function formatConfigErrors(errors: readonly ConfigError[]): string {
  return sortConfigErrors(errors).map(formatConfigError).join('\n');
}

export function sortConfigErrors(errors: readonly ConfigError[]): ConfigError[] {
  return [...errors].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
}

/** Quotes a value for a message, shortened so that a pasted blob cannot flood the terminal. */
export function quoteValue(text: string): string {
  const limit = 80;
  return JSON.stringify(text.length > limit ? `${text.slice(0, limit)}…` : text);
}
