/**
 * Chunking-agnostic framer for line-delimited JSON (Stratum V1, CryptoNote, EthProxy...).
 *
 * A message ends at a LF (CRLF works too: CR is JSON whitespace) or where its top-level object or
 * array closes, with brace depth tracked outside strings, so `{"a":1}{"b":2}` with no newline yields
 * two messages. A UTF-8 BOM and whitespace before a message are skipped. Messages are decoded with
 * JSON.parse (unicode escapes, any key order); a top-level array is a JSON-RPC batch and its elements
 * are reported one by one.
 *
 * Because LF always ends a message, pretty-printed multi-line JSON is not framed as one value: real
 * pools split on LF too, so such a message would not work against them either. Whole documents that
 * may be pretty-printed (HTTP bodies, WebSocket messages) go through `parseJsonMessages` instead.
 *
 * Overflow: a message longer than MAX_JSON_MESSAGE_BYTES (16 KiB, XMRig's own send limit) is
 * reported once as `overflow` and the framer resynchronises at the next LF, dropping the rest of that
 * line without buffering it. A message that does not start with `{` or `[` is reported as `not-json`
 * at its first byte (so callers can reject early) and its line is skipped the same way.
 */

import { BoundedBuffer } from '../bounded-buffer.js';

export const MAX_JSON_MESSAGE_BYTES = 16 * 1024;

export type FramerEvent =
  /** One parsed JSON value; each element of a batch comes as its own event. */
  | { kind: 'message'; value: unknown }
  /** A complete object or line that is not valid JSON (including a LF inside an unclosed object). */
  | { kind: 'invalid' }
  /** A message starting with something other than `{` or `[`; its line is skipped. */
  | { kind: 'not-json' }
  /** A message passed the cap; its line is skipped. */
  | { kind: 'overflow' };

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Bytes skipped between messages: JSON whitespace and the three bytes of a UTF-8 BOM (EF BB BF). */
function isSkippedBetweenMessages(byte: number): boolean {
  return byte === SPACE || byte === TAB || byte === CR || byte === LF || byte === 0xef || byte === 0xbb || byte === 0xbf;
}

type Mode = 'between' | 'container' | 'skip-line';

export class JsonMessageFramer {
  private mode: Mode = 'between';
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Bytes of the current message carried over from earlier chunks. */
  private readonly pending = new BoundedBuffer(MAX_JSON_MESSAGE_BYTES);

  /** Bytes currently held for an incomplete message (always <= MAX_JSON_MESSAGE_BYTES). */
  get bufferedBytes(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): FramerEvent[] {
    const events: FramerEvent[] = [];
    let index = 0;
    while (index < chunk.length) {
      if (this.mode === 'skip-line') {
        const lf = chunk.indexOf(LF, index);
        if (lf < 0) break;
        index = lf + 1;
        this.mode = 'between';
      } else if (this.mode === 'between') {
        const byte = chunk[index] ?? 0;
        if (isSkippedBetweenMessages(byte)) {
          index++;
        } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
          this.mode = 'container';
        } else {
          events.push({ kind: 'not-json' });
          this.mode = 'skip-line';
        }
      } else {
        index = this.scanContainer(chunk, index, events);
      }
    }
    return events;
  }

  /** Scans a `{`/`[` message from `start`; returns where scanning stopped. */
  private scanContainer(chunk: Buffer, start: number, events: FramerEvent[]): number {
    for (let index = start; index < chunk.length; index++) {
      if (this.pending.length + (index - start) + 1 > MAX_JSON_MESSAGE_BYTES) {
        events.push({ kind: 'overflow' });
        this.resetMessage('skip-line');
        return index;
      }
      const byte = chunk[index];
      if (byte === LF) {
        // A LF before the top-level value closed: the line is all a line-based pool would see.
        events.push({ kind: 'invalid' });
        this.resetMessage('between');
        return index + 1;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (byte === BACKSLASH) this.escaped = true;
        else if (byte === QUOTE) this.inString = false;
        continue;
      }
      if (byte === QUOTE) this.inString = true;
      else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) this.depth++;
      else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) this.depth--;
      if (this.depth === 0) {
        events.push(...parseFramed(this.completeMessage(chunk, start, index + 1)));
        this.resetMessage('between');
        return index + 1;
      }
    }
    this.pending.append(chunk, start, chunk.length); // fits: the cap was checked byte by byte above
    return chunk.length;
  }

  /** The whole message: straight from the chunk when nothing was carried over (the common case). */
  private completeMessage(chunk: Buffer, start: number, end: number): Buffer {
    if (this.pending.length === 0) return chunk.subarray(start, end);
    this.pending.append(chunk, start, end);
    return this.pending.view();
  }

  private resetMessage(next: Mode): void {
    this.mode = next;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.pending.clear();
  }
}

function parseFramed(bytes: Buffer): FramerEvent[] {
  const parsed = tryParse(bytes.toString('utf8'));
  if (!parsed.ok) return [{ kind: 'invalid' }];
  const values = Array.isArray(parsed.value) ? parsed.value : [parsed.value];
  return values.map((value) => ({ kind: 'message', value }));
}

function tryParse(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/**
 * Every JSON message in one whole document (an HTTP body, a WebSocket message), batches flattened.
 * The document is parsed as a whole first, so pretty-printed JSON works; when that fails (several
 * messages, trailing junk) it is framed line by line like a stream.
 */
export function parseJsonMessages(document: Buffer | string): unknown[] {
  const text = typeof document === 'string' ? document : document.toString('utf8');
  const whole = tryParse(text.replace(/^\uFEFF/, ''));
  if (whole.ok) return Array.isArray(whole.value) ? whole.value : [whole.value];
  const framer = new JsonMessageFramer();
  const events = framer.push(Buffer.from(`${text}\n`, 'utf8'));
  return events.flatMap((event) => (event.kind === 'message' ? [event.value] : []));
}
