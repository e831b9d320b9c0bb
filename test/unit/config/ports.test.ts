import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ANY_PORT,
  formatPortRanges,
  normalisePortRanges,
  parsePortList,
  parsePortSpec,
} from '../../../src/config/ports.js';

describe('parsePortList', () => {
  it('accepts numbers, "N", "N-M" and "*", sorted and merged', () => {
    expect(parsePortList([443, '80', '8000-8100', '8050-8200'])).toEqual({
      ok: true,
      ranges: [
        { from: 80, to: 80 },
        { from: 443, to: 443 },
        { from: 8000, to: 8200 },
      ],
    });
  });

  it('reads "*" as the whole list or as an element, and a bare element as a list of one', () => {
    expect(parsePortList('*')).toEqual({ ok: true, ranges: [ANY_PORT] });
    expect(parsePortList(['*', 22])).toEqual({ ok: true, ranges: [ANY_PORT] });
    expect(parsePortList(22)).toEqual({ ok: true, ranges: [{ from: 22, to: 22 }] });
  });

  it('merges touching ranges', () => {
    expect(parsePortList(['80-90', '91-100'])).toEqual({ ok: true, ranges: [{ from: 80, to: 100 }] });
  });

  it('reports every bad element with its index', () => {
    expect(parsePortList([443, '8000-70000', 0, 'http', true])).toEqual({
      ok: false,
      errors: [
        { index: 1, message: '"8000-70000" is not a port range (1-65535)' },
        { index: 2, message: '0 is not a port (1-65535)' },
        { index: 3, message: '"http" is not a port, a range "N-M" or "*"' },
        { index: 4, message: 'expected a port number, "N-M" or "*", got a boolean' },
      ],
    });
  });

  it('refuses an empty list, reversed ranges, fractions and out-of-range numbers', () => {
    expect(parsePortList([])).toEqual({ ok: false, errors: [{ message: 'lists no ports; write "*" for any port' }] });
    expect(parsePortSpec('8100-8000')).toEqual({
      ok: false,
      message: '"8100-8000" is not a port range: 8100 is above 8000',
    });
    expect(parsePortSpec(443.5).ok).toBe(false);
    expect(parsePortSpec(65536).ok).toBe(false);
    expect(parsePortSpec('65536').ok).toBe(false);
    expect(parsePortSpec('99999999999').ok).toBe(false);
    expect(parsePortSpec(null).ok).toBe(false);
  });
});

describe('formatPortRanges', () => {
  it('writes single ports, ranges and "*"', () => {
    expect(formatPortRanges([{ from: 22, to: 22 }, { from: 8000, to: 8100 }, ANY_PORT])).toEqual(['22', '8000-8100', '*']);
  });
});

const port = fc.integer({ min: 1, max: 65535 });
const portRange = fc.tuple(port, port).map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) }));

describe('port parsing properties', () => {
  it('never throws, whatever it is given', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const result = parsePortList(value);
        expect(typeof result.ok).toBe('boolean');
      }),
    );
    fc.assert(
      fc.property(fc.string(), (text) => {
        expect(typeof parsePortSpec(text).ok).toBe('boolean');
      }),
    );
  });

  it('round-trips: parsing the formatted ranges gives the normalised ranges back', () => {
    fc.assert(
      fc.property(fc.array(portRange, { minLength: 1 }), (ranges) => {
        const normalised = normalisePortRanges(ranges);
        expect(parsePortList(formatPortRanges(normalised))).toEqual({ ok: true, ranges: normalised });
      }),
    );
  });

  it('normalised ranges are sorted, disjoint and not touching, and cover exactly the same ports', () => {
    fc.assert(
      fc.property(fc.array(portRange, { minLength: 1, maxLength: 8 }), port, (ranges, probe) => {
        const normalised = normalisePortRanges(ranges);
        normalised.slice(1).forEach((range, index) => {
          expect(range.from).toBeGreaterThan((normalised[index]?.to ?? 0) + 1);
        });
        const covers = (list: typeof ranges) => list.some((range) => range.from <= probe && probe <= range.to);
        expect(covers(normalised)).toBe(covers(ranges));
      }),
    );
  });
});
