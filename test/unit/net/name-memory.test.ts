import { describe, expect, it } from 'vitest';
import { NameMemory } from '../../../src/net/name-memory.js';

/** A clock the test steps by hand: expiry is checked without waiting. */
function steppedClock(): { now: () => number; advance: (ms: number) => void } {
  let at = 1_000;
  return { now: () => at, advance: (ms) => void (at += ms) };
}

describe('NameMemory', () => {
  it('lends a name only to the agent that resolved it', () => {
    const memory = new NameMemory({ maxEntries: 100, minTtlSeconds: 60 });
    memory.remember('coder', 'allowed.test', ['5.0.0.10'], 300);
    expect(memory.nameFor('coder', '5.0.0.10')).toBe('allowed.test');
    expect(memory.nameFor('other', '5.0.0.10')).toBeUndefined();
    expect(memory.nameFor('coder', '5.0.0.11')).toBeUndefined();
  });

  it('forgets an answer when its TTL ends, but never before the minimum (clients cache past the TTL)', () => {
    const clock = steppedClock();
    const memory = new NameMemory({ maxEntries: 100, minTtlSeconds: 60, now: clock.now });
    memory.remember('coder', 'short.test', ['5.0.0.10'], 5);
    memory.remember('coder', 'long.test', ['5.0.0.20'], 120);
    clock.advance(59_000);
    expect(memory.nameFor('coder', '5.0.0.10')).toBe('short.test');
    clock.advance(2_000);
    expect(memory.nameFor('coder', '5.0.0.10')).toBeUndefined();
    expect(memory.nameFor('coder', '5.0.0.20')).toBe('long.test');
    clock.advance(60_000);
    expect(memory.nameFor('coder', '5.0.0.20')).toBeUndefined();
  });

  it('names an address by the latest answer that gave it, with that answer\'s TTL', () => {
    const clock = steppedClock();
    const memory = new NameMemory({ maxEntries: 100, minTtlSeconds: 1, now: clock.now });
    memory.remember('coder', 'first.test', ['5.0.0.10'], 600);
    memory.remember('coder', 'second.test', ['5.0.0.10'], 10);
    expect(memory.nameFor('coder', '5.0.0.10')).toBe('second.test');
    // The earlier, longer answer does not come back when the latest one expires.
    clock.advance(11_000);
    expect(memory.nameFor('coder', '5.0.0.10')).toBeUndefined();
  });

  it('stays bounded: the least recently used entries go first', () => {
    const memory = new NameMemory({ maxEntries: 2, minTtlSeconds: 60 });
    memory.remember('coder', 'a.test', ['5.0.0.1', '5.0.0.2', '5.0.0.3'], 60);
    expect(memory.size).toBe(2);
    expect(memory.nameFor('coder', '5.0.0.1')).toBeUndefined();
    expect(memory.nameFor('coder', '5.0.0.3')).toBe('a.test');
  });
});
