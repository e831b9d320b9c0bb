import { it } from 'vitest';
import { FlowClassifier } from '../../../src/inspect/flow-classifier.js';
import type { Direction } from '../../../src/inspect/types.js';

function run(name: string, steps: Array<[Direction, string | Buffer]>, bytes = false) {
  const c = new FlowClassifier();
  const log: string[] = [];
  let i = 0;
  for (const [d, b0] of steps) {
    const b = typeof b0 === 'string' ? Buffer.from(b0) : b0;
    const chunks = bytes ? [...b].map((x) => Buffer.from([x])) : [b];
    for (const ch of chunks) {
      const before = c.classification.protocol + c.classification.decided;
      const det = c.push(ch, d, i++);
      const after = c.classification.protocol + c.classification.decided;
      if (before !== after || det.length) log.push(`${i}:${after}/${c.listening}/${det.map((x) => x.type)}`);
    }
  }
  console.log(name, bytes, log.join(' '), c.classification.protocol, c.listening);
}
const pad = (n: number) => { let p = 8 - ((5 + n) % 8); if (p < 4) p += 8; return p; };
function pkt(payload: number[]) { const b = Buffer.from(payload); const p = pad(b.length); const o = Buffer.alloc(5 + b.length + p); o.writeUInt32BE(1 + b.length + p); o[4] = p; b.copy(o, 5); return o; }
function nl(s: string) { const b = Buffer.from(s); const l = Buffer.alloc(4); l.writeUInt32BE(b.length); return [...l, ...b]; }
const kexinit = [20, ...Buffer.alloc(16, 1), ...nl('curve25519-sha256'), ...nl('ssh-ed25519'), ...nl('aes128-ctr'), ...nl('aes128-ctr'), ...nl('hmac-sha2-256'), ...nl('hmac-sha2-256'), ...nl('none'), ...nl('none'), ...nl(''), ...nl(''), 0, 0, 0, 0, 0];

it('probe', () => {
  for (const bytes of [false, true]) {
    run('h2', [['up', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n']], bytes);
    run('proxyv1', [['up', 'PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n']], bytes);
    run('proxyv2', [['up', Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0, 12])]], bytes);
    run('ssh', [['up', 'SSH-2.0-OpenSSH_9.6\r\n'], ['down', 'SSH-2.0-OpenSSH_9.2p1\r\n'], ['up', pkt(kexinit)], ['down', pkt(kexinit)], ['up', pkt([30, ...Buffer.alloc(36, 2)])], ['down', pkt([31, ...Buffer.alloc(36, 2)])], ['down', pkt([21])], ['up', pkt([21])], ['up', Buffer.alloc(64, 7)]], bytes);
    run('server-first-ssh', [['down', 'SSH-2.0-OpenSSH_9.2p1\r\n'], ['up', 'SSH-2.0-OpenSSH_9.6\r\n']], bytes);
    run('http', [['up', 'GET / HTTP/1.1\r\nHost: a\r\n\r\n']], bytes);
    run('ping', [['up', 'ping 1\n']], bytes);
    run('server-speaks-first smtp', [['down', '220 mail.example ESMTP\r\n']], bytes);
  }
});
