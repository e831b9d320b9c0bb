/**
 * The suggested rules as a unified diff of an agent file: the new list items go at the end of its
 * `allow:` block (indented like the items already there), `allow: []` becomes a block, a file without
 * `allow:` gets one at the end, and a missing file is created. Text-level on purpose: the operator's
 * comments and layout stay as they are, and the diff applies with `patch -p0`.
 */

const CONTEXT = 3;

export function allowDiff(displayPath: string, agent: string, original: string | undefined, items: (indent: string) => string[]): string {
  if (original === undefined) {
    const added = [`agent: ${agent}`, 'allow:', ...items('  ')];
    return [`--- /dev/null`, `+++ ${displayPath}`, `@@ -0,0 +1,${added.length} @@`, ...added.map((line) => `+${line}`)].join('\n');
  }
  const lines = original.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const edit = placeItems(lines, items);
  return [`--- ${displayPath}`, `+++ ${displayPath}`, ...hunk(lines, edit)].join('\n');
}

interface Edit {
  /** Lines [from, to) are replaced by `insert`. */
  from: number;
  to: number;
  insert: string[];
}

function placeItems(lines: string[], items: (indent: string) => string[]): Edit {
  const at = lines.findIndex((line) => /^allow\s*:/.test(line));
  if (at < 0) return { from: lines.length, to: lines.length, insert: ['allow:', ...items('  ')] };
  const value = (lines[at] ?? '').replace(/^allow\s*:/, '').replace(/\s+#.*$/, '').trim();
  if (value !== '') {
    // `allow: []` (or an inline list): rewritten as a block with the old items kept.
    const inline = /^\[(.*)\]$/.exec(value)?.[1]?.trim() ?? '';
    const kept = inline === '' ? [] : splitFlowItems(inline).map((item) => `  - ${item}`);
    return { from: at, to: at + 1, insert: ['allow:', ...kept, ...items('  ')] };
  }
  let last = at;
  let indent: string | undefined;
  for (let index = at + 1; index < lines.length; index += 1) {
    const line = lines[index] ?? '';
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    if (!/^\s/.test(line) && !line.startsWith('-')) break;
    last = index;
    indent ??= /^(\s*)-/.exec(line)?.[1];
  }
  return { from: last + 1, to: last + 1, insert: items(indent ?? '  ') };
}

/** Top-level comma-separated items of a YAML flow sequence's inside (`{a: 1, b: [2, 3]}, {…}`). */
function splitFlowItems(text: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index];
    if (char === '{' || char === '[') depth += 1;
    else if (char === '}' || char === ']') depth -= 1;
    else if (char === ',' && depth === 0) {
      items.push(text.slice(start, index).trim());
      start = index + 1;
    }
  }
  items.push(text.slice(start).trim());
  return items.filter((item) => item !== '');
}

function hunk(lines: string[], edit: Edit): string[] {
  const start = Math.max(0, edit.from - CONTEXT);
  const end = Math.min(lines.length, edit.to + CONTEXT);
  const before = lines.slice(start, edit.from).map((line) => ` ${line}`);
  const removed = lines.slice(edit.from, edit.to).map((line) => `-${line}`);
  const added = edit.insert.map((line) => `+${line}`);
  const after = lines.slice(edit.to, end).map((line) => ` ${line}`);
  const oldCount = end - start;
  const newCount = oldCount - (edit.to - edit.from) + edit.insert.length;
  return [`@@ -${start + 1},${oldCount} +${start + 1},${newCount} @@`, ...before, ...removed, ...added, ...after];
}
