import { describe, expect, it } from 'vitest';
import { Http2PrefaceClassifier } from '../../../../src/inspect/signatures/http2-preface.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const SETTINGS = Buffer.from([0, 0, 0, 0x04, 0, 0, 0, 0, 0]);

describe('Http2PrefaceClassifier', () => {
  it('identifies the 24-byte preface, whole, byte by byte, or with the first frame in the same read', () => {
    expect(new Http2PrefaceClassifier().push(PREFACE, 'up').state).toBe('identified');
    expect(new Http2PrefaceClassifier().push(Buffer.concat([PREFACE, SETTINGS]), 'up').state).toBe('identified');
    const classifier = new Http2PrefaceClassifier();
    const states = [...PREFACE].map((byte) => classifier.push(Buffer.from([byte]), 'up').state);
    expect(states.slice(0, -1).every((state) => state === 'undecided')).toBe(true);
    expect(states.at(-1)).toBe('identified');
  });

  it.each([
    ['an HTTP/1.1 request', 'GET / HTTP/1.1\r\n'],
    ['a preface that differs in its last byte', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\x0b'],
    ['HTTP/2.0 as an HTTP/1 version', 'PRI * HTTP/2.0\r\nHost: x\r\n\r\n'],
    ['PROXY protocol', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'],
  ])('rejects %s', (_name, text) => {
    expect(new Http2PrefaceClassifier().push(Buffer.from(text, 'latin1'), 'up').state).toBe('rejected');
  });

  it('rejects a mismatch that arrives in a later read, and stays rejected', () => {
    const classifier = new Http2PrefaceClassifier();
    expect(classifier.push(PREFACE.subarray(0, 10), 'up').state).toBe('undecided');
    expect(classifier.push(Buffer.from('XX'), 'up').state).toBe('rejected');
    expect(classifier.push(PREFACE.subarray(12), 'up').state).toBe('rejected');
  });

  it('ignores the destination and empty reads', () => {
    const classifier = new Http2PrefaceClassifier();
    expect(classifier.push(Buffer.from('HTTP/1.1 200 OK\r\n'), 'down').state).toBe('undecided');
    expect(classifier.push(Buffer.alloc(0), 'up').state).toBe('undecided');
    expect(classifier.push(PREFACE, 'up')).toEqual({ state: 'identified', detections: [] });
  });
});
