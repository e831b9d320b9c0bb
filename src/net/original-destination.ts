import { createRequire } from 'node:module';
import type net from 'node:net';
import type { IKoffiLib, KoffiFunction } from 'koffi';
import ipaddr from 'ipaddr.js';
import { formatAddress } from './address.js';
import { messageOf } from '../error-message.js';

/**
 * The destination a connection had before iptables `REDIRECT` rewrote it to our listener, read with
 * `getsockopt(SO_ORIGINAL_DST)` from the kernel's connection tracking. Node has no binding for it, so
 * libc's `getsockopt` is called through koffi (prebuilt, no compiler at install time).
 *
 * The option number is 80 at both levels: SO_ORIGINAL_DST (linux/netfilter_ipv4.h) at SOL_IP, and
 * IP6T_SO_ORIGINAL_DST (linux/netfilter_ipv6/ip6_tables.h) at SOL_IPV6. The kernel answers with a
 * sockaddr_in / sockaddr_in6 whose port and address are in network byte order.
 */

const SOL_IP = 0;
const SOL_IPV6 = 41;
const SO_ORIGINAL_DST = 80;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCKADDR_IN6_BYTES = 28;

export type OriginalDestination = { ok: true; address: string; port: number } | { ok: false; code: string; message: string };

/** What Node's TCP handle exposes on Linux: the socket's file descriptor (not part of the typed API). */
interface HandleWithFd {
  fd?: unknown;
}

type Koffi = typeof import('koffi');

let koffi: Koffi | undefined;
let getsockopt: KoffiFunction | undefined;
let unavailable: string | undefined;

/** Loads libc's getsockopt once; the reason it cannot be loaded is kept and reported on every call. */
function loadGetsockopt(): KoffiFunction | undefined {
  if (getsockopt || unavailable) return getsockopt;
  if (process.platform !== 'linux') {
    unavailable = `transparent mode needs Linux (SO_ORIGINAL_DST); this is ${process.platform}`;
    return undefined;
  }
  try {
    // koffi is CommonJS with a native addon: required, not imported, so a missing binary is an error here
    // and not at start-up of a proxy that never uses transparent mode.
    koffi = createRequire(import.meta.url)('koffi') as Koffi;
    const libc: IKoffiLib = koffi.load('libc.so.6');
    getsockopt = libc.func('int getsockopt(int fd, int level, int optname, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)');
  } catch (error) {
    unavailable = `cannot load libc getsockopt through koffi: ${messageOf(error)}`;
  }
  return getsockopt;
}

/** The file descriptor of an accepted TCP socket, or undefined when Node does not expose one. */
export function socketFd(socket: net.Socket): number | undefined {
  const handle: unknown = Reflect.get(socket, '_handle');
  if (typeof handle !== 'object' || handle === null) return undefined;
  const fd = (handle as HandleWithFd).fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

/**
 * The pre-REDIRECT destination of `socket`. An IPv4 connection accepted on a dual-stack socket (local
 * address `::ffff:a.b.c.d`) has an IPv4 conntrack entry, so SOL_IP is asked first for those.
 */
export function originalDestination(socket: net.Socket): OriginalDestination {
  const call = loadGetsockopt();
  if (!call) return { ok: false, code: 'UNAVAILABLE', message: unavailable ?? 'getsockopt unavailable' };
  const fd = socketFd(socket);
  if (fd === undefined) return { ok: false, code: 'NO_FD', message: 'the socket has no file descriptor (not a kernel TCP socket)' };
  const local = socket.localAddress ?? '';
  const ipv6Socket = local.includes(':');
  const attempts = !ipv6Socket ? [SOL_IP] : local.toLowerCase().startsWith('::ffff:') ? [SOL_IP, SOL_IPV6] : [SOL_IPV6];
  let first: OriginalDestination | undefined;
  for (const level of attempts) {
    const buffer = Buffer.alloc(SOCKADDR_IN6_BYTES);
    const length = [SOCKADDR_IN6_BYTES];
    const result: unknown = call(fd, level, SO_ORIGINAL_DST, buffer, length);
    if (result === 0) {
      const parsed = parseSockaddr(buffer.subarray(0, length[0] ?? 0));
      if (parsed) return { ok: true, ...parsed };
      return { ok: false, code: 'EINVAL', message: 'the kernel returned an address of an unknown family' };
    }
    const errno = koffi?.errno() ?? 0;
    // ENOENT: no conntrack entry, i.e. the connection was not redirected (or conntrack is not loaded).
    first ??= { ok: false, code: errno === 2 ? 'ENOENT' : `errno ${errno}`, message: errno === 2 ? 'the connection was not redirected (no conntrack entry for it)' : `getsockopt(SO_ORIGINAL_DST) failed with errno ${errno}` };
  }
  // The first level asked is the socket's own family: its error is the meaningful one.
  return first ?? { ok: false, code: 'ENOENT', message: 'no original destination' };
}

/** Decodes a sockaddr_in / sockaddr_in6 (family in host byte order, port and address in network order). */
export function parseSockaddr(bytes: Buffer): { address: string; port: number } | undefined {
  if (bytes.length < 8) return undefined;
  const family = bytes.readUInt16LE(0);
  const port = bytes.readUInt16BE(2);
  if (family === AF_INET) {
    return { address: formatAddress(ipaddr.fromByteArray([...bytes.subarray(4, 8)])), port };
  }
  if (family === AF_INET6 && bytes.length >= 24) {
    return { address: formatAddress(ipaddr.fromByteArray([...bytes.subarray(8, 24)])), port };
  }
  return undefined;
}
