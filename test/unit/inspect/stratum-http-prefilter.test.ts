import { describe, expect, it } from 'vitest';
import { requestMayCarryMining, responseMayCarryMining } from '../../../src/inspect/stratum/http-mining-signals.js';

describe('plain-HTTP mining pre-checks', () => {
  it.each([
    [{ 'user-agent': 'curl/7.88.1' }, false, false],
    [{ 'user-agent': 'curl/7.88.1' }, true, true],
    [{ 'user-agent': 'cgminer 3.7.2' }, false, true],
    [{ 'user-agent': 'XMRig/6.21.0 (Linux x86_64)' }, false, true],
    [{ 'x-mining-extensions': 'midstate' }, false, true],
    [{}, false, false],
    [{ 'user-agent': ['Mozilla/5.0', 'xmrig/6.21'] }, false, true],
  ])('request %o with body=%s may carry mining: %s', (headers, hasBody, expected) => {
    expect(requestMayCarryMining(headers, hasBody)).toBe(expected);
  });

  it.each([
    [{ 'x-stratum': 'stratum+tcp://pool.example:3333' }, true],
    [{ 'x-long-polling': '/LP' }, true],
    [{ 'x-reject-reason': 'stale' }, true],
    [{ 'content-type': 'application/json' }, false],
  ])('response %o may carry mining: %s', (headers, expected) => {
    expect(responseMayCarryMining(headers)).toBe(expected);
  });
});
