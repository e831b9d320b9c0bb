import { describe, expect, it } from 'vitest';
import { hostKeys, isHostName } from '../../../src/policy/host-keys.js';

describe('isHostName', () => {
  it('is false for every spelling of an IP literal and true for names', () => {
    for (const literal of ['10.0.0.1', '2130706433', '0x7f.1', '::1', '[2001:db8::1]', '']) {
      expect(isHostName(literal), literal).toBe(false);
    }
    for (const name of ['github.com', 'localhost', 'xn--bcher-kva.example', '1password.com']) {
      expect(isHostName(name), name).toBe(true);
    }
  });
});

describe('hostKeys', () => {
  it('cuts the parent domain with a given number of labels, never the host itself', () => {
    const keys = hostKeys('a.b.github.com');
    expect(keys?.name).toBe('a.b.github.com');
    expect([1, 2, 3].map((labels) => keys?.parentWithLabels(labels))).toEqual(['com', 'github.com', 'b.github.com']);
    expect([0, 4, 5].map((labels) => keys?.parentWithLabels(labels))).toEqual([undefined, undefined, undefined]);
    expect(hostKeys('localhost')?.parentWithLabels(1)).toBeUndefined();
  });

  it('gives no keys for a missing host or an IP literal', () => {
    expect(hostKeys(undefined)).toBeUndefined();
    expect(hostKeys('10.0.0.1')).toBeUndefined();
  });
});
