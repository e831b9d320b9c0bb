import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';

/**
 * Holding the start of a request body so it can be inspected before any of it is forwarded: the held
 * bytes are replayed, then the rest of the body streams through.
 */

export interface HeldBody {
  chunks: Buffer[];
  /** `complete`: the whole body is held; `prefix`: the first `limit` bytes, the rest follows; `aborted`: the client went away mid-body. */
  state: 'complete' | 'prefix' | 'aborted';
  /** Replays the held bytes, then the rest of the body, for http-proxy to send upstream. */
  stream: PassThrough;
}

/**
 * Reads up to `limit` bytes of the request body (or all of it, if shorter) and returns them with a
 * stream that replays them followed by the rest of the body, for http-proxy to send upstream.
 */
export async function holdBodyPrefix(req: IncomingMessage, limit: number): Promise<HeldBody> {
  const chunks: Buffer[] = [];
  let held = 0;
  const state = await new Promise<HeldBody['state']>((resolve) => {
    if (req.readableEnded) return resolve('complete');
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      held += chunk.length;
      if (held >= limit) done('prefix');
    };
    const onEnd = (): void => done('complete');
    const onClose = (): void => done(req.readableEnded ? 'complete' : 'aborted');
    const done = (outcome: HeldBody['state']): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      req.pause();
      resolve(outcome);
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
  });
  const stream = new PassThrough();
  for (const chunk of chunks) stream.write(chunk);
  if (state === 'prefix') req.pipe(stream);
  else stream.end();
  return { chunks, state, stream };
}
