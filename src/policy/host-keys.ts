/**
 * The requested host, prepared once per decision for the host matcher: its name for the exact-name
 * lookup, and its parent domains for the wildcard lookups ("*.github.com" is filed under
 * "github.com"). A parent domain is cut only when the matcher asks for it.
 */
import { parseIpLiteral } from '../net/address.js';

/**
 * False for IP literals written as a host ("10.0.0.1", "2130706433", "[::1]"): the caller should pass
 * those as addresses, but if one arrives as text it must not match "*" (patterns name hosts only).
 */
export function isHostName(host: string): boolean {
  return host !== '' && parseIpLiteral(host) === undefined;
}

export class HostKeys {
  /** Positions of the dots of `name`. */
  private readonly dots: number[] = [];

  constructor(readonly name: string) {
    for (let dot = name.indexOf('.'); dot !== -1; dot = name.indexOf('.', dot + 1)) this.dots.push(dot);
  }

  /**
   * The parent domain made of the last `labels` labels: "a.b.github.com" with 2 → "github.com".
   * Undefined unless it is a proper parent (1 ≤ labels < the host's own label count).
   */
  parentWithLabels(labels: number): string | undefined {
    const dot = this.dots[this.dots.length - labels];
    if (labels < 1 || dot === undefined) return undefined;
    return this.name.slice(dot + 1);
  }
}

/** Keys for a requested host; undefined when there is no name to match (none, or an IP literal). */
export function hostKeys(host: string | undefined): HostKeys | undefined {
  return host === undefined || !isHostName(host) ? undefined : new HostKeys(host);
}
