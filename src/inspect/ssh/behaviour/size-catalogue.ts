/**
 * The wire sizes the reverse-tunnel analyser looks for, computed once per connection from the two
 * directions' packet geometry (payload lengths from RFC 4252/4254; protocol notes §2.3).
 */
import { wireSize, type PacketGeometry } from './packet-sizes.js';

/** Bind addresses an `ssh -R` request plausibly carries: "" (GatewayPorts / "*"), "::", "::1", "0.0.0.0", "localhost" / "127.0.0.1", up to a 15-character IPv4 literal. */
const BIND_ADDRESS_LENGTHS = [0, 2, 3, 7, 8, 9, 10, 11, 12, 13, 14, 15];
/** GLOBAL_REQUEST "tcpip-forward": byte + string(13) + bool + string(bind) + uint32 port. */
const TCPIP_FORWARD_BASE = 1 + 4 + 13 + 1 + 4 + 4;
/** GLOBAL_REQUEST "keepalive@openssh.com" with want-reply: the same size as a tcpip-forward for "". */
const KEEPALIVE_PAYLOAD = 1 + 4 + 21 + 1;
/** CHANNEL_OPEN "session": byte + string(7) + 3 × uint32. */
const SESSION_OPEN_PAYLOAD = 1 + 4 + 7 + 12;
/** GLOBAL_REQUEST "no-more-sessions@openssh.com" without reply. */
const NO_MORE_SESSIONS_PAYLOAD = 1 + 4 + 28 + 1;
/** CHANNEL_OPEN "forwarded-tcpip": 48 + connected address + originator address (shortest: "", "::1"). */
const FORWARDED_TCPIP_MIN_PAYLOAD = 48 + 0 + 3;
/** Longest plausible: a 64-character host name and an IPv6 originator. */
const FORWARDED_TCPIP_MAX_PAYLOAD = 48 + 64 + 45;
const OPEN_CONFIRMATION_PAYLOAD = 17;
/** USERAUTH_SUCCESS, REQUEST_SUCCESS/FAILURE: the message byte alone. */
const BARE_MESSAGE_PAYLOAD = 1;
/** REQUEST_SUCCESS carrying the port the server allocated (`-R 0:…`). */
const ALLOCATED_PORT_REPLY_PAYLOAD = 5;
/** CHANNEL_DATA header: byte + channel + string length. */
const CHANNEL_DATA_HEADER = 9;
/** Inner identification lines: "SSH-2.0-x\r\n" (11) to the 255-byte limit. */
const INNER_BANNER_MIN = 11;
const INNER_BANNER_MAX = 255;
/** Inner KEXINITs are 600–2,000 bytes (protocol notes §2.2); anything from 400 counts as "large". */
const INNER_KEXINIT_MIN = 400;
/**
 * Inner keystroke packet sizes: 28 (umac-64-etm), 36 (chacha20, GCM), 48 (hmac-md5), 52 (hmac-sha1,
 * sha2-256-etm), 64 (ctr + hmac-sha2-256) — protocol notes §2.6 step 8.
 */
const INNER_KEYSTROKE_SIZES = [28, 36, 48, 52, 64];

export interface SizeCatalogue {
  /** Client sizes of a tcpip-forward request, minus those that equal a session open (ambiguous). */
  tcpipForward: ReadonlySet<number>;
  /** tcpip-forward sizes that equal a keepalive request (only trusted right after authentication). */
  keepaliveLookalikes: ReadonlySet<number>;
  sessionOpen: number;
  noMoreSessions: number;
  /** Server: USERAUTH_SUCCESS / REQUEST_SUCCESS. */
  bareServerMessage: number;
  allocatedPortReply: number;
  forwardedOpenMin: number;
  forwardedOpenMax: number;
  /** Client: CHANNEL_OPEN_CONFIRMATION. */
  openConfirmation: number;
  bannerClient: { min: number; max: number };
  bannerServer: { min: number; max: number };
  largeClient: number;
  largeServer: number;
  /** Wrapped keystroke size → the size the local echo of it has (same inner packet, client geometry). */
  wrappedKeystrokeEcho: ReadonlyMap<number, number>;
}

export function sizeCatalogue(client: PacketGeometry, server: PacketGeometry): SizeCatalogue {
  const sessionOpen = wireSize(client, SESSION_OPEN_PAYLOAD);
  const keepalive = wireSize(client, KEEPALIVE_PAYLOAD);
  const tcpipForward = new Set<number>();
  const keepaliveLookalikes = new Set<number>();
  for (const length of BIND_ADDRESS_LENGTHS) {
    const size = wireSize(client, TCPIP_FORWARD_BASE + length);
    if (size === sessionOpen) continue;
    tcpipForward.add(size);
    if (size === keepalive) keepaliveLookalikes.add(size);
  }
  const wrappedKeystrokeEcho = new Map<number, number>();
  for (const inner of INNER_KEYSTROKE_SIZES) {
    wrappedKeystrokeEcho.set(wireSize(server, CHANNEL_DATA_HEADER + inner), wireSize(client, CHANNEL_DATA_HEADER + inner));
  }
  return {
    tcpipForward,
    keepaliveLookalikes,
    sessionOpen,
    noMoreSessions: wireSize(client, NO_MORE_SESSIONS_PAYLOAD),
    bareServerMessage: wireSize(server, BARE_MESSAGE_PAYLOAD),
    allocatedPortReply: wireSize(server, ALLOCATED_PORT_REPLY_PAYLOAD),
    forwardedOpenMin: wireSize(server, FORWARDED_TCPIP_MIN_PAYLOAD),
    forwardedOpenMax: wireSize(server, FORWARDED_TCPIP_MAX_PAYLOAD),
    openConfirmation: wireSize(client, OPEN_CONFIRMATION_PAYLOAD),
    bannerClient: { min: wireSize(client, CHANNEL_DATA_HEADER + INNER_BANNER_MIN), max: wireSize(client, CHANNEL_DATA_HEADER + INNER_BANNER_MAX) },
    bannerServer: { min: wireSize(server, CHANNEL_DATA_HEADER + INNER_BANNER_MIN), max: wireSize(server, CHANNEL_DATA_HEADER + INNER_BANNER_MAX) },
    largeClient: wireSize(client, CHANNEL_DATA_HEADER + INNER_KEXINIT_MIN),
    largeServer: wireSize(server, CHANNEL_DATA_HEADER + INNER_KEXINIT_MIN),
    wrappedKeystrokeEcho,
  };
}
