/**
 * Incremental HTTP/1.x framing of one direction of a connection: heads (capped at 64 KiB), then
 * bodies by Content-Length, chunked coding or connection close, message after message (pipelining,
 * keep-alive). It is fed bytes in any chunking and reports events; body bytes are slices of the
 * input, never buffered here, so a consumer decides how much of each body it keeps.
 *
 * After a CONNECT request or a 101 response the connection is no longer HTTP: the stream then hands
 * every later byte through as `tunnel` events. A request stream cannot see the 101 that ends HTTP on
 * its side, so whoever watches the responses calls `switchToTunnel()` on it.
 * On broken framing it reports one `error` and ignores everything after it.
 */
import type { HttpFacts } from '../types.js';
import { BoundedBuffer } from '../bounded-buffer.js';
import { requestBodyFraming, responseBodyFraming, type FramingResult } from './body-framing.js';
import { ChunkedDecoder } from './chunked-decoder.js';
import { isPlausibleStartLine, isValidStartLine, MAX_HEAD_BYTES, parseRequestHead, parseResponseHead, type HttpResponseHead } from './head.js';

export type HttpStreamEvent =
  | { kind: 'request'; head: HttpFacts }
  | { kind: 'response'; head: HttpResponseHead }
  | { kind: 'body'; data: Buffer }
  /** The current message (head and body) is complete. */
  | { kind: 'end' }
  | { kind: 'error'; reason: string }
  /** Bytes after the connection stopped being HTTP (after a CONNECT request or a 101 response). */
  | { kind: 'tunnel'; data: Buffer };

type State =
  | { kind: 'between' }
  | { kind: 'head' }
  | { kind: 'length'; remaining: number }
  | { kind: 'chunked'; decoder: ChunkedDecoder }
  | { kind: 'until-close' }
  | { kind: 'tunnel' }
  | { kind: 'stopped' };

const CR = 0x0d;
const LF = 0x0a;
/** How many head bytes are checked for a plausible start line before the whole head is in. */
const START_LINE_CHECK_BYTES = 32;

export class HttpMessageStream {
  private state: State = { kind: 'between' };
  private readonly head = new BoundedBuffer(MAX_HEAD_BYTES);
  /** Non-CR bytes on the current head line; a LF ending an empty line ends the head. */
  private lineLength = 0;
  /** The current head's first line is complete and was checked. */
  private startLineDone = false;
  private parsedHeads = 0;
  private failure: string | undefined;

  constructor(readonly kind: 'request' | 'response') {}

  /** Bytes held for an incomplete head (at most 64 KiB). */
  get bufferedBytes(): number {
    return this.head.length;
  }

  /** True once the framing broke (the stream then ignores its input). */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Messages whose head parsed, so far. */
  get messageCount(): number {
    return this.parsedHeads;
  }

  push(chunk: Buffer): HttpStreamEvent[] {
    const events: HttpStreamEvent[] = [];
    let index = 0;
    while (index < chunk.length && this.state.kind !== 'stopped') {
      index = this.advance(chunk, index, events);
    }
    return events;
  }

  /** Consumes input from `index` in the current state; returns where it stopped. */
  private advance(chunk: Buffer, index: number, events: HttpStreamEvent[]): number {
    const state = this.state;
    switch (state.kind) {
      case 'between': {
        // Empty lines before a request line are ignored (RFC 9112 §2.2).
        const byte = chunk[index];
        if (byte === CR || byte === LF) return index + 1;
        this.state = { kind: 'head' };
        return index;
      }
      case 'head':
        return this.scanHead(chunk, index, events);
      case 'length': {
        const take = Math.min(state.remaining, chunk.length - index);
        events.push({ kind: 'body', data: chunk.subarray(index, index + take) });
        state.remaining -= take;
        if (state.remaining === 0) this.endMessage(events);
        return index + take;
      }
      case 'chunked': {
        const step = state.decoder.push(chunk.subarray(index));
        if (step.kind === 'error') {
          for (const data of step.data) if (data.length > 0) events.push({ kind: 'body', data });
          this.fail(events, step.reason);
          return chunk.length;
        }
        for (const data of step.data) if (data.length > 0) events.push({ kind: 'body', data });
        if (step.kind === 'done') this.endMessage(events);
        return index + step.consumed;
      }
      case 'until-close':
        events.push({ kind: 'body', data: chunk.subarray(index) });
        return chunk.length;
      case 'tunnel':
        events.push({ kind: 'tunnel', data: chunk.subarray(index) });
        return chunk.length;
      case 'stopped':
        return chunk.length;
    }
  }

  /**
   * Looks for the blank line ending the head. The start line is checked as soon as it is complete,
   * and its first bytes before that, so a non-HTTP stream fails fast instead of filling 64 KiB.
   */
  private scanHead(chunk: Buffer, start: number, events: HttpStreamEvent[]): number {
    let from = start;
    for (let index = start; index < chunk.length; index++) {
      const byte = chunk[index];
      if (byte === CR) continue;
      if (byte !== LF) {
        this.lineLength++;
        continue;
      }
      if (!this.keepHead(chunk, from, index + 1, events)) return chunk.length;
      from = index + 1;
      if (this.lineLength === 0) {
        this.completeHead(events);
        return index + 1;
      }
      this.lineLength = 0;
      if (!this.startLineDone) {
        this.startLineDone = true;
        if (!isValidStartLine(this.headText().replace(/\r?\n$/, ''), this.kind)) return this.notHttp(events, chunk.length);
      }
    }
    const heldBefore = this.head.length;
    if (!this.keepHead(chunk, from, chunk.length, events)) return chunk.length;
    if (!this.startLineDone && heldBefore < START_LINE_CHECK_BYTES && !isPlausibleStartLine(this.headText(START_LINE_CHECK_BYTES), this.kind)) {
      return this.notHttp(events, chunk.length);
    }
    return chunk.length;
  }

  private keepHead(chunk: Buffer, start: number, end: number, events: HttpStreamEvent[]): boolean {
    if (this.head.append(chunk, start, end)) return true;
    this.fail(events, 'head too large');
    return false;
  }

  /** The head so far (or its first `limit` bytes), latin1 so that every byte maps to one character. */
  private headText(limit = this.head.length): string {
    return this.head.view().toString('latin1', 0, Math.min(limit, this.head.length));
  }

  private notHttp(events: HttpStreamEvent[], resumeAt: number): number {
    this.fail(events, `not an HTTP/1.x ${this.kind}`);
    return resumeAt;
  }

  private completeHead(events: HttpStreamEvent[]): void {
    const text = this.headText();
    this.head.clear();
    this.lineLength = 0;
    this.startLineDone = false;
    let framing: FramingResult;
    if (this.kind === 'request') {
      const parsed = parseRequestHead(text);
      if (!parsed.ok) return this.fail(events, parsed.reason);
      events.push({ kind: 'request', head: parsed.head });
      framing = requestBodyFraming(parsed.head);
    } else {
      const parsed = parseResponseHead(text);
      if (!parsed.ok) return this.fail(events, parsed.reason);
      events.push({ kind: 'response', head: parsed.head });
      framing = responseBodyFraming(parsed.head);
    }
    this.parsedHeads++;
    if (!framing.ok) return this.fail(events, framing.reason);
    const body = framing.framing;
    if (body.kind === 'none') this.endMessage(events);
    else if (body.kind === 'length') this.state = { kind: 'length', remaining: body.bytes };
    else if (body.kind === 'chunked') this.state = { kind: 'chunked', decoder: new ChunkedDecoder() };
    else if (body.kind === 'until-close') this.state = { kind: 'until-close' };
    else {
      events.push({ kind: 'end' });
      this.state = { kind: 'tunnel' };
    }
  }

  /** The peer switched protocols (101): from here on every byte of this direction is tunnel data. */
  switchToTunnel(): void {
    if (this.state.kind === 'stopped') return;
    this.head.clear();
    this.state = { kind: 'tunnel' };
  }

  /** True once the connection stopped being HTTP in this direction. */
  get tunnelled(): boolean {
    return this.state.kind === 'tunnel';
  }

  private endMessage(events: HttpStreamEvent[]): void {
    events.push({ kind: 'end' });
    this.state = { kind: 'between' };
  }

  /** Reports broken framing once; the stream ignores all later input. */
  private fail(events: HttpStreamEvent[], reason: string): void {
    events.push({ kind: 'error', reason });
    this.failure = reason;
    this.state = { kind: 'stopped' };
    this.head.clear();
  }
}
