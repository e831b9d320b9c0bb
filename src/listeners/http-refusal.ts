import type { DialResult } from '../net/dialer.js';
import type { Admission } from '../pipeline/pipeline.js';
import type { Refusal } from './denial.js';

/** How an HTTP-speaking listener answers each admission that is not a go-ahead. */
export function refusalForAdmission(admission: Exclude<Admission, { kind: 'admitted' }>): Refusal {
  switch (admission.kind) {
    case 'denied':
      return {
        status: 403,
        error: 'denied',
        reason: admission.decision.reason ?? `denied by rule ${admission.decision.rule}`,
        rule: admission.decision.rule,
        flow: admission.flow,
      };
    case 'auth':
      return {
        status: 407,
        error: admission.bad ? 'invalid_credentials' : 'credentials_required',
        reason: admission.reason,
        headers: { 'proxy-authenticate': 'Basic realm="chokepoint"' },
      };
    case 'invalid':
      return { status: 400, error: 'bad_request', reason: admission.reason };
    case 'unresolvable':
      return { status: 502, error: 'unresolvable', reason: admission.reason, flow: admission.flow };
    case 'limited':
      return {
        status: admission.scope === 'agent' ? 429 : 503,
        error: 'limit_reached',
        reason: admission.reason,
        rule: `limit.${admission.scope}`,
        flow: admission.flow,
      };
  }
}

export function refusalForDial(failure: Extract<DialResult, { ok: false }>, admission: Extract<Admission, { kind: 'admitted' }>): Refusal {
  return {
    status: failure.code === 'ETIMEDOUT' ? 504 : 502,
    error: failure.code === 'ETIMEDOUT' ? 'upstream_timeout' : 'upstream_unreachable',
    reason: failure.message,
    flow: admission.flow,
  };
}
