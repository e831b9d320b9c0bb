/** Vocabulary shared by the two ClientHello reassemblers (TLS records and SSLv2-compatible records). */
import type { ClientHelloInfo } from './client-hello.js';

/**
 * The largest ClientHello handshake message (4-byte header included) the classifier will hold.
 * Large post-quantum key shares make multi-record hellos common, but real hellos stay far below this.
 */
export const CLIENT_HELLO_CAP = 64 * 1024;

/**
 * Why the bytes were not accepted as a TLS ClientHello.
 * - `not-tls`: the first byte opens neither a TLS handshake record nor an SSLv2-compatible hello.
 * - `bad-record`: record framing a TLS client would never send (wrong record type or version, empty
 *   or oversized record).
 * - `not-client-hello`: a handshake message that is not a ClientHello.
 * - `hello-too-large`: the hello announces more than CLIENT_HELLO_CAP bytes.
 * - `malformed-hello`: the complete hello does not parse.
 * Only `not-tls` means "certainly another protocol"; the others are TLS-looking bytes the proxy could
 * not read, which a caller should fail closed on.
 */
export type TlsRejectionReason = 'not-tls' | 'bad-record' | 'not-client-hello' | 'hello-too-large' | 'malformed-hello';

export interface TlsRejection {
  reason: TlsRejectionReason;
  /** Short human-readable detail for logs. */
  detail: string;
}

export type ReassemblyStep =
  | { kind: 'need-more' }
  | { kind: 'complete'; hello: ClientHelloInfo }
  | ({ kind: 'rejected' } & TlsRejection);

export const NEED_MORE: ReassemblyStep = { kind: 'need-more' };

export function rejected(reason: TlsRejectionReason, detail: string): ReassemblyStep {
  return { kind: 'rejected', reason, detail };
}

/** Collects the hello from `up` bytes. After `complete` or `rejected` it must not be fed again. */
export interface HelloReassembler {
  feed(chunk: Buffer): ReassemblyStep;
  /** Hello bytes currently held (never more than CLIENT_HELLO_CAP). */
  readonly bufferedBytes: number;
}
