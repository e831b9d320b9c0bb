/**
 * Identification lines worth a note in the facts (not a detection by themselves): tunnelling tools and
 * libraries that are rarely what a developer's `ssh` looks like.
 */
import type { IdentificationLine } from './identification.js';

const STANDARD_PROTO_VERSIONS: ReadonlySet<string> = new Set(['2.0', '1.99']);

/** A short explanation when the line is notable, undefined otherwise. */
export function notableBanner(line: IdentificationLine): string | undefined {
  // chisel speaks SSH inside WebSocket with `SSH-chisel-v3-client` / `SSH-chisel-v3-server`.
  if (line.protoVersion === 'chisel') return 'chisel tunnel identification';
  // The Go x/crypto/ssh default, unchanged by the tool author (ET 2038967/2038968).
  if (line.protoVersion === '2.0' && line.softwareVersion === 'Go' && line.comments === undefined) {
    return 'Go x/crypto/ssh default identification';
  }
  // NHAS reverse_ssh sends `SSH-v2.2.3-…-linux_amd64`; real SSH-2 peers send 2.0 (or 1.99).
  if (!STANDARD_PROTO_VERSIONS.has(line.protoVersion)) return `unusual protoversion "${line.protoVersion}"`;
  return undefined;
}
