import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PrefixBuffer } from '../../../../src/inspect/signatures/prefix-buffer.js';

describe('PrefixBuffer', () => {
  it('keeps the first `cap` bytes across appends and ignores the rest', () => {
    const prefix = new PrefixBuffer(5);
    expect(prefix.append(Buffer.from('ab'))).toBe(true);
    expect(prefix.full).toBe(false);
    expect(prefix.append(Buffer.from('cdefg'))).toBe(true);
    expect(prefix.view().toString()).toBe('abcde');
    expect(prefix.full).toBe(true);
    expect(prefix.append(Buffer.from('h'))).toBe(false);
    expect(prefix.view().toString()).toBe('abcde');
    expect(prefix.size).toBe(5);
  });

  it('reports no change for an empty chunk', () => {
    const prefix = new PrefixBuffer(4);
    expect(prefix.append(Buffer.alloc(0))).toBe(false);
    expect(prefix.size).toBe(0);
    expect(prefix.view()).toEqual(Buffer.alloc(0));
  });

  it('does not alias the caller’s buffer', () => {
    const chunk = Buffer.from('abc');
    const prefix = new PrefixBuffer(8);
    prefix.append(chunk);
    chunk.fill(0x7a);
    expect(prefix.view().toString()).toBe('abc');
  });

  it('holds exactly the first bytes of any chunking, never more than its cap', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 64 }), fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 10 }), (cap, chunks) => {
        const prefix = new PrefixBuffer(cap);
        for (const chunk of chunks) prefix.append(Buffer.from(chunk));
        const all = Buffer.concat(chunks.map((chunk) => Buffer.from(chunk)));
        expect(prefix.view()).toEqual(all.subarray(0, cap));
        expect(prefix.full).toBe(all.length >= cap);
      }),
    );
  });
});
