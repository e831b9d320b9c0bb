/**
 * Classification cost per flow: CPU microseconds to classify the first flight of a typical flow of each
 * protocol, through the same FlowClassifier the tunnels use (every classifier side by side). Pure CPU,
 * no sockets: `node dist/bench/classify-cost.js`, or `main()` from the bench runner.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlowClassifier } from '../src/inspect/flow-classifier.js';
import type { Direction } from '../src/inspect/types.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Flight {
  name: string;
  chunks: Array<[Direction, Buffer]>;
}

function flights(): Flight[] {
  const hello = Buffer.from(readFileSync(path.join(REPO, 'test/fixtures/tls/curl-7.88.1.hex'), 'utf8').replace(/\s+/g, ''), 'hex');
  const kexinitNames = [
    'curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ext-info-c',
    'ssh-ed25519-cert-v01@openssh.com,ssh-ed25519,rsa-sha2-512,rsa-sha2-256',
    'chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com',
    'chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com',
    'umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com',
    'umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com',
    'none,zlib@openssh.com',
    'none,zlib@openssh.com',
    '',
    '',
  ];
  const lists = kexinitNames.map((names) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(names.length);
    return Buffer.concat([length, Buffer.from(names)]);
  });
  const payload = Buffer.concat([Buffer.from([20]), Buffer.alloc(16, 1), ...lists, Buffer.from([0, 0, 0, 0, 0])]);
  let padding = 8 - ((5 + payload.length) % 8);
  if (padding < 4) padding += 8;
  const packet = Buffer.alloc(5 + payload.length + padding);
  packet.writeUInt32BE(1 + payload.length + padding);
  packet.writeUInt8(padding, 4);
  payload.copy(packet, 5);
  return [
    { name: 'TLS ClientHello (curl)', chunks: [['up', hello]] },
    {
      name: 'HTTP/1.1 GET',
      chunks: [['up', Buffer.from('GET /simple/requests/ HTTP/1.1\r\nHost: pypi.org\r\nUser-Agent: pip/24.0\r\nAccept: */*\r\n\r\n')]],
    },
    {
      name: 'SSH banners + KEXINITs',
      chunks: [
        ['up', Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n')],
        ['down', Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n')],
        ['up', packet],
        ['down', packet],
      ],
    },
    {
      name: 'Stratum (XMRig login)',
      chunks: [['up', Buffer.from('{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"44AFFq5kSiGBoZ","pass":"x","agent":"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0","algo":["rx/0"]}}\n')]],
    },
    { name: 'unknown binary (4 KiB)', chunks: [['up', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 17) & 0xff))]] },
  ];
}

export interface ClassifyCost {
  name: string;
  microsPerFlow: number;
  protocol: string;
}

export function main(iterations = 5_000): ClassifyCost[] {
  const results: ClassifyCost[] = [];
  for (const flight of flights()) {
    let protocol = '';
    const run = (count: number): number => {
      const start = process.cpuUsage();
      for (let i = 0; i < count; i++) {
        const classifier = new FlowClassifier();
        let at = 0;
        for (const [direction, bytes] of flight.chunks) classifier.push(bytes, direction, (at += 0.1));
        classifier.giveUp();
        protocol = classifier.classification.protocol;
      }
      const used = process.cpuUsage(start);
      return (used.user + used.system) / count;
    };
    run(Math.min(500, iterations)); // warm-up: let the JIT settle
    const rounds = [run(iterations), run(iterations), run(iterations)].sort((a, b) => a - b);
    results.push({ name: flight.name, microsPerFlow: rounds[1] ?? 0, protocol });
  }
  return results;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  for (const result of main()) {
    process.stdout.write(`${result.name.padEnd(28)} ${result.microsPerFlow.toFixed(1).padStart(8)} µs CPU per flow  (named ${result.protocol})\n`);
  }
}
