import { describe, expect, it } from 'vitest';
import { formatConfigError, formatConfigErrors, formatKeyPath, quoteValue } from '../../../src/config/errors.js';

describe('config error formatting', () => {
  it('writes key paths the way an operator reads them', () => {
    expect(formatKeyPath(['allow', 2, 'ports', 1])).toBe('allow[2].ports[1]');
    expect(formatKeyPath(['hosts', 'example.test'])).toBe('hosts["example.test"]');
    expect(formatKeyPath([])).toBe('');
  });

  it('prints file:line: path: message, leaving out what is unknown', () => {
    expect(formatConfigError({ file: 'a.yaml', line: 9, path: 'allow[0]', message: 'bad' })).toBe('a.yaml:9: allow[0]: bad');
    expect(formatConfigError({ file: 'a.yaml', line: 0, path: '', message: 'cannot read' })).toBe('a.yaml: cannot read');
  });

  it('lists errors by file, then line', () => {
    const text = formatConfigErrors([
      { file: 'b.yaml', line: 1, path: '', message: 'third' },
      { file: 'a.yaml', line: 7, path: '', message: 'second' },
      { file: 'a.yaml', line: 2, path: '', message: 'first' },
    ]);
    expect(text).toBe('a.yaml:2: first\na.yaml:7: second\nb.yaml:1: third');
  });

  it('shortens long values in messages', () => {
    expect(quoteValue('x'.repeat(500))).toBe(JSON.stringify(`${'x'.repeat(80)}…`));
    expect(quoteValue('a\nb')).toBe('"a\\nb"');
  });
});
