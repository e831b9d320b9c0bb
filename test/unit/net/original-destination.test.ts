import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { originalDestination, parseSockaddr, socketFd } from '../../../src/net/original-destination.js';

describe('parseSockaddr', () => {
  it('reads a sockaddr_in: family in host order, port and address in network order', () => {
    const bytes = Buffer.from([0x02, 0x00, 0x01, 0xbb, 93, 184, 216, 34, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseSockaddr(bytes)).toEqual({ address: '93.184.216.34', port: 443 });
  });

  it('reads a sockaddr_in6 in canonical text', () => {
    const bytes = Buffer.alloc(28);
    bytes.writeUInt16LE(10, 0);
    bytes.writeUInt16BE(8080, 2);
    Buffer.from('20010db8000000000000000000000001', 'hex').copy(bytes, 8);
    expect(parseSockaddr(bytes)).toEqual({ address: '2001:db8::1', port: 8080 });
  });

  it('refuses short buffers and unknown families', () => {
    expect(parseSockaddr(Buffer.alloc(4))).toBeUndefined();
    const unix = Buffer.alloc(16);
    unix.writeUInt16LE(1, 0);
    expect(parseSockaddr(unix)).toBeUndefined();
  });
});

describe('originalDestination on a connection that was not redirected', () => {
  it.skipIf(process.platform !== 'linux')('has a file descriptor, and answers ENOENT or its own address (never a made-up one)', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const client = net.connect(port, '127.0.0.1');
    const socket = await accepted;
    try {
      expect(socketFd(socket)).toBeGreaterThanOrEqual(0);
      const result = originalDestination(socket);
      // With conntrack loaded the kernel reports the real (unchanged) destination; without, ENOENT.
      if (result.ok) expect(result).toEqual({ ok: true, address: '127.0.0.1', port });
      else expect(result.code).toBe('ENOENT');
    } finally {
      client.destroy();
      socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
