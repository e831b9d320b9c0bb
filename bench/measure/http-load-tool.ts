/** Measurement 3: HTTP requests/s with keep-alive, through a proxy's absolute-URI forwarding or direct. */
import type { Endpoint, Route } from '../protocol.js';
import type { Sample } from './sample.js';

export interface HttpLoad {
  connections: number;
  durationS: number;
}

/** A load generator for measurement 3; wrk when available, else a Node client (see chooseHttpLoadTool). */
export interface HttpLoadTool {
  /** For the report, e.g. "wrk 4.1.0, 1 thread". */
  description: string;
  /** Successful (200) responses per second. */
  measure(route: Route, origin: Endpoint, load: HttpLoad): Promise<Sample>;
}
