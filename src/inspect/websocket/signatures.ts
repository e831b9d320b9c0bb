/**
 * Tunnel signatures visible in a WebSocket: in the handshake (chisel, wstunnel) and at the start of a
 * message (an SSH identification line or a TLS handshake record carried as the payload). See
 * protocol-notes §1.2 "WebSocket" and §1.4.3.
 */
import type { Direction } from '../types.js';
import { printableText, type Finding } from './finding.js';
import { readWstunnelToken, WSTUNNEL_TOKEN_PREFIX } from './wstunnel-token.js';

/** RFC 4253 §4.2: an identification line is at most 255 bytes. */
const MAX_SSH_BANNER = 255;
const SSH_PREFIX = Buffer.from('SSH-', 'latin1');
const TLS_HANDSHAKE_RECORD = 0x16;
const TLS_CLIENT_HELLO = 0x01;

/** Findings from the subprotocols the client offered. */
export function handshakeFindings(subprotocols: readonly string[]): Finding[] {
  const findings: Finding[] = [];
  const chisel = subprotocols.find((protocol) => /^chisel-v\d+$/i.test(protocol));
  if (chisel !== undefined) {
    findings.push({
      key: 'chisel',
      type: 'tunnel_tool',
      confidence: 'high',
      evidence: `chisel client: Sec-WebSocket-Protocol ${printableText(chisel, 32)}`,
    });
  }
  const wstunnel = wstunnelFinding(subprotocols);
  if (wstunnel !== undefined) findings.push(wstunnel);
  return findings;
}

function wstunnelFinding(subprotocols: readonly string[]): Finding | undefined {
  const bearer = subprotocols.find((protocol) => protocol.toLowerCase().startsWith(WSTUNNEL_TOKEN_PREFIX));
  if (bearer === undefined) return undefined;
  const request = readWstunnelToken(bearer);
  if (request === undefined) {
    // Other applications also put bearer tokens in subprotocols; only wstunnel pairs one with "v1".
    if (!subprotocols.includes('v1')) return undefined;
    return {
      key: 'wstunnel',
      type: 'tunnel_tool',
      confidence: 'medium',
      evidence: 'wstunnel-style subprotocols (v1, authorization.bearer.<token>); token unreadable',
    };
  }
  const target = `p=${printableText(request.protocol, 32)} r=${printableText(request.host, 255)} rp=${request.port}`;
  // wstunnel names its reverse modes ReverseTcp, ReverseUdp, ReverseSocks5, ...: the far side listens.
  const reverse = /^reverse/i.test(request.protocol);
  return {
    key: 'wstunnel',
    type: reverse ? 'reverse_tunnel' : 'tunnel_tool',
    confidence: 'high',
    evidence: `wstunnel ${reverse ? 'reverse ' : ''}tunnel ${target}`,
  };
}

/** Findings from the start of one (decoded) message. */
export function payloadFindings(payload: Buffer, direction: Direction): Finding[] {
  if (payload.subarray(0, SSH_PREFIX.length).equals(SSH_PREFIX)) return sshFindings(payload, direction);
  if (payload[0] === TLS_HANDSHAKE_RECORD && payload[1] === 0x03 && (payload[2] ?? 0) <= 0x04) {
    return [tlsFinding(payload, direction)];
  }
  return [];
}

function sshFindings(payload: Buffer, direction: Direction): Finding[] {
  const head = payload.subarray(0, MAX_SSH_BANNER).toString('latin1');
  const banner = head.split(/[\r\n]/, 1)[0] ?? '';
  // "SSH-protoversion-softwareversion" in printable ASCII is an identification line, not a coincidence.
  const wellFormed = /^SSH-[\x21-\x7e]+-[\x20-\x7e]+$/.test(banner);
  // SSH carried in WebSocket messages is what websocket tunnels do (wstunnel, websocat, chisel, NHAS
  // reverse_ssh over ws): a tunnel tool, not just an odd payload (protocol notes §1.4.3).
  const findings: Finding[] = [
    {
      key: `ssh-${direction}`,
      type: 'tunnel_tool',
      confidence: wellFormed ? 'high' : 'medium',
      evidence: `SSH identification inside WebSocket (${direction}): ${printableText(banner, 80)}`,
    },
  ];
  if (banner.startsWith('SSH-chisel-')) {
    findings.push({
      key: 'chisel',
      type: 'tunnel_tool',
      confidence: 'high',
      evidence: `chisel SSH banner inside WebSocket: ${printableText(banner, 80)}`,
    });
  }
  return findings;
}

function tlsFinding(payload: Buffer, direction: Direction): Finding {
  const clientHello = payload[5] === TLS_CLIENT_HELLO;
  return {
    key: `tls-${direction}`,
    type: 'websocket_payload',
    confidence: clientHello ? 'high' : 'medium',
    evidence: clientHello
      ? `TLS ClientHello inside WebSocket (${direction})`
      : `TLS handshake record inside WebSocket (${direction})`,
  };
}
