import type { IncomingMessage } from 'node:http';
import { PassThrough, Transform } from 'node:stream';

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
 * stream that replays them followed by the rest of the body, for http-proxy to send upstream. `gate`
 * sees each later chunk's length before it is passed on: false drops it (its caller ends the exchange).
 */
export async function holdBodyPrefix(req: IncomingMessage, limit: number, gate?: (bytes: number) => boolean): Promise<HeldBody> {
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
  if (state === 'prefix' && gate) req.pipe(gated(gate)).pipe(stream);
  else if (state === 'prefix') req.pipe(stream);
  else stream.end();
  return { chunks, state, stream };
}

function gated(gate: (bytes: number) => boolean): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (gate(chunk.length)) done(null, chunk);
      else done();
    },
  });
}
