import { it } from 'vitest';
import http from 'node:http';
import { startTestProxy } from '../helpers/proxy.js';
import { connectTunnel } from '../helpers/raw-clients.js';
import { DENY_UNKNOWN_POLICY, tempRules } from '../helpers/rules.js';

it('ws debug', async () => {
  const server = http.createServer((req, res) => { console.log('REQUEST', req.url); res.end('x'); });
  server.on('connection', () => console.log('CONN'));
  server.on('upgrade', (req, socket) => { socket.on('data', (d) => console.log('SERVER GOT', d.length)); console.log('UPGRADE', req.url); socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as any).port;
  const rules = await tempRules(DENY_UNKNOWN_POLICY, { a: `agent: a
identify: { sources: ["127.0.0.1/32"] }
allow:
  - { host: ws.test, ports: [${port}] }
  - { cidr: 127.0.0.1/32, ports: [${port}] }
` });
  const proxy = await startTestProxy(rules.dir, (c) => { c.stateDir = '/tmp/scratch/state'; c.hosts.set('ws.test', ['127.0.0.1']); });
  const t = await connectTunnel(proxy.proxy.http!.port, `ws.test:${port}`);
  t.socket.on('data', (d) => console.log('CLIENT GOT', JSON.stringify(d.toString())));
  t.socket.resume();
  t.socket.write(`GET /socket HTTP/1.1\r\nHost: ws.test:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await new Promise((r) => setTimeout(r, 500));
  const payload = Buffer.from('{"id":1,"method":"mining.subscribe","params":["cpuminer/2.5.1"]}');
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  t.socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
  t.socket.on('close', () => console.log('CLIENT CLOSED'));
  await new Promise((r) => setTimeout(r, 1000));
  console.log(JSON.stringify(proxy.log.events.map((e) => [e.event.action, e.event.reason, e.network])));
  await proxy.stop(); server.close();
});
