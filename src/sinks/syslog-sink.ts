import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { ChokepointEvent } from '../events/types.js';
import { formatLine, type EventFormatter } from './format.js';
import { QueuedSink, type QueueOptions } from './queued-sink.js';
import { eventSeverity } from './severity.js';
import { syslogMessageLimit, type SyslogSinkConfig } from './sink-config.js';
import { formatSyslog, frameOctetCounted, truncateToBytes, type SyslogHeader } from './syslog-format.js';

/**
 * RFC 5424 over UDP (RFC 5426), TCP (RFC 6587 octet counting) or TLS (RFC 5425). Asynchronous behind
 * the bounded queue: while the server is unreachable the queue fills and further events are dropped
 * and counted (`sink.dropped`); a stream connection is re-opened after `reconnect_ms`. Delivery is
 * at-most-once: syslog has no acknowledgement, so what a TCP connection held when it broke is lost.
 */
export class SyslogSink extends QueuedSink {
  private readonly header: SyslogHeader;
  private readonly transport: SyslogTransport;
  private readonly maxBytes: number;

  constructor(options: QueueOptions, private readonly formatter: EventFormatter, config: SyslogSinkConfig) {
    super(options);
    this.header = { facility: config.facility, appName: config.appName };
    this.maxBytes = syslogMessageLimit(config);
    this.transport = config.transport === 'udp' ? new UdpTransport(config) : new StreamTransport(config);
  }

  /**
   * A message longer than the receiver takes is cut here, header and structured data (sequence, agent,
   * flow, action, rule) intact, and the cut is reported: the receiver would cut it anyway, silently, or
   * over TCP lose the framing of the messages after it.
   */
  protected encode(event: ChokepointEvent): string {
    const message = formatSyslog(event, eventSeverity(event), formatLine(event, this.formatter), this.header);
    const cut = truncateToBytes(message, this.maxBytes);
    if (cut === undefined) return message;
    this.options.reporter.error(`event ${event.event.sequence} (${event.event.action}) was longer than max_message_bytes ${this.maxBytes}: its JSON was cut`);
    return cut;
  }

  protected async deliver(lines: string[]): Promise<void> {
    const { oversized } = await this.transport.send(lines);
    // A datagram too large for UDP can never be sent: dropped and counted, not retried forever.
    if (oversized > 0) {
      this.options.reporter.droppedEvents(oversized);
      this.options.reporter.error(`${oversized} message(s) too large for a UDP datagram; use transport tcp or tls`);
    }
  }

  protected release(): Promise<void> {
    return this.transport.close();
  }
}

const CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_WRITE_TIMEOUT_MS = 30_000;

interface SyslogTransport {
  /** Sends every message, or rejects; `oversized` counts messages that can never be sent. */
  send(messages: string[]): Promise<{ oversized: number }>;
  close(): Promise<void>;
}

/** One datagram per message; the socket is unconnected so an ICMP refusal never errors it. */
class UdpTransport implements SyslogTransport {
  private readonly socket: dgram.Socket;

  constructor(private readonly config: SyslogSinkConfig) {
    this.socket = dgram.createSocket(net.isIPv6(config.host) ? 'udp6' : 'udp4');
    this.socket.on('error', () => undefined);
    this.socket.unref();
  }

  async send(messages: string[]): Promise<{ oversized: number }> {
    let oversized = 0;
    for (const message of messages) {
      const tooLarge = await new Promise<boolean>((resolve, reject) =>
        this.socket.send(message, this.config.port, this.config.host, (error) => {
          if (!error) resolve(false);
          else if ((error as NodeJS.ErrnoException).code === 'EMSGSIZE') resolve(true);
          else reject(error);
        }),
      );
      if (tooLarge) oversized += 1;
    }
    return { oversized };
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** A TCP or TLS connection opened on demand and re-opened by the next send after it breaks. */
class StreamTransport implements SyslogTransport {
  private socket: net.Socket | undefined;
  private readonly tlsOptions: tls.ConnectionOptions | undefined;

  constructor(private readonly config: SyslogSinkConfig) {
    if (config.transport === 'tls') {
      // Read once at start-up: a missing CA or key is a start-up error, not a stream of sink.error.
      this.tlsOptions = {
        host: config.host,
        port: config.port,
        servername: net.isIP(config.host) ? undefined : config.host,
        ...(config.caFile ? { ca: readFileSync(config.caFile) } : {}),
        ...(config.certFile ? { cert: readFileSync(config.certFile) } : {}),
        ...(config.keyFile ? { key: readFileSync(config.keyFile) } : {}),
      };
    }
  }

  /**
   * Resolves once the kernel took the batch. A server that takes nothing for `write_timeout_ms` (gone
   * without a FIN, or stopped reading) costs this connection: it is destroyed and the batch is tried
   * again on a new one, rather than waiting out the kernel's retransmission timeout (many minutes)
   * while every event is dropped.
   */
  async send(messages: string[]): Promise<{ oversized: number }> {
    const socket = this.socket ?? (await this.connect());
    const data = messages.map(frameOctetCounted).join('');
    const timeoutMs = this.config.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.socket === socket) this.socket = undefined;
        socket.destroy();
        reject(new Error(`server took nothing for ${timeoutMs} ms; reconnecting`));
      }, timeoutMs);
      socket.write(data, (error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      });
    });
    return { oversized: 0 };
  }

  close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return Promise.resolve();
    return new Promise((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 2_000).unref();
    });
  }

  private connect(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = this.tlsOptions
        ? tls.connect(this.tlsOptions)
        : net.connect({ host: this.config.host, port: this.config.port });
      const ready = this.tlsOptions ? 'secureConnect' : 'connect';
      const onError = (error: Error): void => {
        socket.destroy();
        reject(error);
      };
      socket.once('error', onError);
      // A server that drops SYNs would otherwise hold the queue for the kernel's whole connect timeout.
      socket.setTimeout(CONNECT_TIMEOUT_MS, () => onError(new Error(`connect timed out after ${CONNECT_TIMEOUT_MS} ms`)));
      socket.once(ready, () => {
        socket.off('error', onError);
        socket.setTimeout(0);
        // Later errors end this connection; the next send opens another.
        socket.on('error', () => socket.destroy());
        socket.once('close', () => {
          if (this.socket === socket) this.socket = undefined;
        });
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 30_000);
        this.socket = socket;
        resolve(socket);
      });
    });
  }
}
