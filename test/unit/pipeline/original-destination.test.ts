import { describe, expect, it } from 'vitest';
import { pinToOriginal } from '../../../src/pipeline/original-destination.js';

describe('pinToOriginal', () => {
  it('admits an original address that is among the name\'s vetted addresses', () => {
    expect(pinToOriginal('allowed.test', ['5.0.0.9', '5.0.0.10'], { address: '5.0.0.10', nameFrom: 'sni' })).toEqual({ ok: true });
    expect(pinToOriginal('allowed.test', ['2001:db8::1'], { address: '2001:db8::1', nameFrom: 'host' })).toEqual({ ok: true });
  });

  it('denies a name read from the bytes (SNI / Host) that does not resolve to the address dialled', () => {
    const pinned = pinToOriginal('allowed.test', ['5.0.0.10'], { address: '5.0.0.20', nameFrom: 'sni' });
    expect(pinned).toEqual({
      decision: {
        action: 'deny',
        rule: 'transparent.address-mismatch',
        reason: 'the agent connected to 5.0.0.20, which is not an address of allowed.test (from its TLS SNI; allowed.test resolves to 5.0.0.10)',
      },
    });
    expect(pinToOriginal('allowed.test', [], { address: '5.0.0.20', nameFrom: 'host' })).toMatchObject({ decision: { reason: expect.stringMatching(/Host header; allowed\.test resolves to nothing/) } });
  });

  it('takes a name the agent got from Chokepoint\'s own DNS answer as vouched for (the address is still judged)', () => {
    expect(pinToOriginal('allowed.test', ['5.0.0.11'], { address: '5.0.0.10', nameFrom: 'dns-answer' })).toEqual({ ok: true });
  });
});
