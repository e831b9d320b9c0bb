import { describe, expect, it } from 'vitest';
import { parseOptions } from '../../../bench/options.js';

describe('parseOptions', () => {
  it('defaults to the full workload on every target', () => {
    const parsed = parseOptions([]);
    expect(parsed.kind).toBe('run');
    if (parsed.kind !== 'run') return;
    expect(parsed.settings.quick).toBe(false);
    expect(parsed.settings.rounds).toBe(5);
    expect(parsed.settings.targets).toEqual(['direct', 'squid', 'chokepoint', 'chokepoint-raw']);
    expect(parsed.settings.idle.count).toBe(5000);
    expect(parsed.settings.outFile).toBeNull();
  });

  it('--quick shrinks the workload and --rounds overrides its round count', () => {
    const parsed = parseOptions(['--quick', '--rounds', '7']);
    if (parsed.kind !== 'run') throw new Error(`unexpected ${parsed.kind}`);
    expect(parsed.settings.quick).toBe(true);
    expect(parsed.settings.rounds).toBe(7);
    expect(parsed.settings.http.durationS).toBeLessThan(5);
  });

  it('keeps the column order whatever order --targets lists', () => {
    const parsed = parseOptions(['--targets', 'squid,direct']);
    if (parsed.kind !== 'run') throw new Error(`unexpected ${parsed.kind}`);
    expect(parsed.settings.targets).toEqual(['direct', 'squid']);
  });

  it('takes --out', () => {
    const parsed = parseOptions(['--out', '/tmp/r.md']);
    expect(parsed.kind === 'run' && parsed.settings.outFile).toBe('/tmp/r.md');
  });

  it.each([
    [['--rounds']],
    [['--rounds', '0']],
    [['--rounds', '2.5']],
    [['--rounds', 'many']],
    [['--targets', 'nginx']],
    [['--targets', '']],
    [['--targets']],
    [['--out']],
    [['--fast']],
  ])('rejects %j with a message instead of throwing', (argv) => {
    const parsed = parseOptions(argv);
    expect(parsed.kind).toBe('error');
  });

  it('recognises --help', () => {
    expect(parseOptions(['--quick', '--help']).kind).toBe('help');
  });
});
