import type { IncomingMessage } from 'node:http';
import { elapsedNs, type Flow } from '../flow/flow.js';
import type { FlowClassification } from '../inspect/flow-classifier.js';
import { HttpMiningClassifier } from '../inspect/stratum/http-mining.js';
import { requestMayCarryMining, responseMayCarryMining } from '../inspect/stratum/http-mining-signals.js';
import type { Direction, HttpFacts } from '../inspect/types.js';
import type { FlowJudge, Verdict } from './flow-judge.js';

/**
 * Inspection of one request on the plain-HTTP entry (absolute-URI requests), where Node has already
 * parsed the HTTP: the head is re-serialised for the same mining classifier that reads tunnels, the
 * body is fed as it streams, and the response head is checked for pool hints (X-Stratum). Each call
 * returns the judge's verdict; the listener refuses or cuts the exchange when it blocks.
 */
export class HttpExchangeInspection {
  /** Created on the first exchange that can carry a signal; most never need one. */
  private mining: HttpMiningClassifier | undefined;
  /** Node hands over the body de-chunked; it is re-framed as chunks so any length can be fed. */
  private chunkedBody = false;

  constructor(
    private readonly judge: FlowJudge,
    private readonly flow: Flow,
  ) {}

  request(req: IncomingMessage, url: URL): Verdict {
    // The plain-HTTP entry speaks HTTP by definition: judged like a tunnel named http (a rule limited to
    // other protocols refuses it), which also gives the flow its protocol facts for the close event.
    const userAgent = req.headers['user-agent'];
    const http: HttpFacts = {
      method: req.method ?? 'GET',
      target: url.href,
      version: req.httpVersion,
      host: url.host,
      ...(userAgent !== undefined ? { userAgent } : {}),
      headers: {},
    };
    const protocol = this.judge.judgeClassified(this.flow, { protocol: 'http', decided: true, http, detections: [] });
    if (protocol.block) return protocol;
    this.chunkedBody = hasBody(req);
    // An ordinary bodiless request has nothing the classifier could flag: skip re-parsing its head.
    if (!requestMayCarryMining(req.headersDistinct, this.chunkedBody)) return { block: false };
    const headers = headerLines(req.rawHeaders, (name) => name !== 'content-length' && name !== 'transfer-encoding');
    const framing = this.chunkedBody ? 'transfer-encoding: chunked\r\n' : '';
    const head = `${req.method ?? 'GET'} ${url.pathname}${url.search} HTTP/${req.httpVersion}\r\n${headers}${framing}\r\n`;
    return this.feed(Buffer.from(head, 'latin1'), 'up');
  }

  requestBody(chunk: Buffer): Verdict {
    if (!this.chunkedBody || chunk.length === 0) return { block: false };
    return this.feed(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, CRLF]), 'up');
  }

  /** The body is complete: a body is judged as a whole when it ends (or at the classifier's cap). */
  requestEnd(): Verdict {
    return this.chunkedBody ? this.feed(LAST_CHUNK, 'up') : { block: false };
  }

  /** Response heads only (X-Stratum, X-Long-Polling hints); the body goes to the agent unread. */
  response(res: IncomingMessage): Verdict {
    if (!responseMayCarryMining(res.headers)) return { block: false };
    const headers = headerLines(res.rawHeaders, (name) => name !== 'content-length' && name !== 'transfer-encoding');
    const head = `HTTP/${res.httpVersion} ${res.statusCode ?? 200} ${res.statusMessage ?? ''}\r\n${headers}content-length: 0\r\n\r\n`;
    return this.feed(Buffer.from(head, 'latin1'), 'down');
  }

  private feed(bytes: Buffer, direction: Direction): Verdict {
    const mining = (this.mining ??= new HttpMiningClassifier());
    const detections = mining.push(bytes, direction, elapsedNs(this.flow) / 1e6).detections;
    if (detections.length === 0) return { block: false };
    const stratum = mining.facts();
    const classification: FlowClassification = { protocol: 'http', decided: true, ...(stratum ? { stratum } : {}), detections };
    return this.judge.judgeDetections(this.flow, classification, detections);
  }
}

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

export function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? '0') > 0;
}

function headerLines(raw: string[], keep: (lowerName: string) => boolean): string {
  let text = '';
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    if (keep(name.toLowerCase())) text += `${name}: ${raw[i + 1] ?? ''}\r\n`;
  }
  return text;
}
