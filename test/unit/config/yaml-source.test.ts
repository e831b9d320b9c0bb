import { describe, expect, it } from 'vitest';
import { parseYamlSource, type YamlSource } from '../../../src/config/yaml-source.js';

function parsed(text: string): YamlSource {
  const result = parseYamlSource('f.yaml', text);
  if (!result.ok) throw new Error(`expected a valid document, got ${JSON.stringify(result.errors)}`);
  return result.source;
}

const AGENT = `agent: a
allow:
  - { host: x, ports: [443, "8000-70000"] }
  - host: y
    ports:
      - 22
      - 23
deny: []
`;

describe('parseYamlSource', () => {
  it('returns the document as plain data', () => {
    expect(parsed('a: [1, "2"]\nb: { c: null }\n').value).toEqual({ a: [1, '2'], b: { c: null } });
    expect(parsed('# nothing but a comment\n').value).toBeNull();
  });

  it('maps key paths to the line of the key or sequence item', () => {
    const source = parsed(AGENT);
    expect(source.lineOf(['agent'])).toBe(1);
    expect(source.lineOf(['allow'])).toBe(2);
    expect(source.lineOf(['allow', 0, 'ports', 1])).toBe(3);
    expect(source.lineOf(['allow', 1])).toBe(4);
    expect(source.lineOf(['allow', 1, 'ports'])).toBe(5);
    expect(source.lineOf(['allow', 1, 'ports', 1])).toBe(7);
    expect(source.lineOf(['deny'])).toBe(8);
  });

  it('falls back to the nearest ancestor that exists', () => {
    const source = parsed(AGENT);
    expect(source.lineOf(['allow', 1, 'reason'])).toBe(4);
    expect(source.lineOf(['allow', 9, 'host'])).toBe(2);
    expect(source.lineOf(['missing', 'deeper'])).toBe(1);
    expect(source.lineOf([])).toBe(1);
  });

  it('follows aliases to the anchored value', () => {
    const source = parsed('common: &web\n  - 80\n  - bad\nallow:\n  - { host: x, ports: *web }\n');
    expect(source.lineOf(['allow', 0, 'ports', 1])).toBe(3);
  });

  it('reports syntax errors with their line', () => {
    const result = parseYamlSource('f.yaml', 'a: 1\nb: [1, 2\nc: 3\n');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.length).toBeGreaterThan(0);
    expect(result.errors.every((error) => error.file === 'f.yaml' && error.line >= 2)).toBe(true);
  });

  it('reports duplicate keys, unresolved tags, unknown aliases and several documents', () => {
    const lineOfFirstError = (text: string): number | undefined => {
      const result = parseYamlSource('f.yaml', text);
      return result.ok ? undefined : result.errors[0]?.line;
    };
    expect(lineOfFirstError('a: 1\nb: 2\na: 3\n')).toBe(3);
    expect(lineOfFirstError('a: 1\nb: !port 443\n')).toBe(2);
    expect(lineOfFirstError('a: 1\n\nb: *nowhere\n')).toBe(3);
    expect(lineOfFirstError('a: 1\n---\nb: 2\n')).toBe(2);
  });

  it('refuses an alias bomb instead of expanding it', () => {
    let text = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let level = 1; level < 9; level++) {
      text += `a${level}: &a${level} [${Array(10).fill(`*a${level - 1}`).join(', ')}]\n`;
    }
    const result = parseYamlSource('f.yaml', text);
    expect(result.ok).toBe(false);
  });
});
