import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a webhook receiver was sent. */
export interface ReceivedHook {
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

export interface WebhookReceiver {
  port: number;
  url: string;
  received: ReceivedHook[];
  /** Resolves with the first request (already received or future) that matches. */
  waitFor(match: (hook: ReceivedHook) => boolean): Promise<ReceivedHook>;
  close(): Promise<void>;
}

/**
 * A real HTTP server on loopback standing in for a trainer's webhook. `answer` decides each response:
 * a status code, or 'hang' to read the request and never answer (a stuck receiver).
 */
export async function webhookReceiver(answer: (hook: ReceivedHook) => number | 'hang' = () => 204, port = 0): Promise<WebhookReceiver> {
  const received: ReceivedHook[] = [];
  const waiters: Array<{ match: (hook: ReceivedHook) => boolean; resolve: (hook: ReceivedHook) => void }> = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Kept as text: the test's assertion says what was expected.
      }
      const hook = { headers: request.headers, body };
      received.push(hook);
      for (const waiter of [...waiters]) {
        if (waiter.match(hook)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(hook);
        }
      }
      const status = answer(hook);
      if (status !== 'hang') response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}/hooks/chokepoint`,
    received,
    waitFor: (match) => {
      const seen = received.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
