import { describe, expect, it } from 'vitest';
import { detectionSeverity, eventSeverity } from '../../../src/events/severity.js';
import { DEFAULT_DETECTION_ACTIONS, DETECTION_KINDS } from '../../../src/policy/types.js';

describe('severity', () => {
  it('follows the documented table for detections (action base, confidence step, never below low)', () => {
    const table: Array<[action: 'alert' | 'deny' | 'quarantine', confidence: 'low' | 'medium' | 'high', value: number, label: string]> = [
      ['quarantine', 'high', 5, 'critical'],
      ['quarantine', 'medium', 4, 'high'],
      ['quarantine', 'low', 3, 'medium'],
      ['deny', 'high', 4, 'high'],
      ['deny', 'medium', 3, 'medium'],
      ['deny', 'low', 2, 'low'],
      ['alert', 'high', 3, 'medium'],
      ['alert', 'medium', 2, 'low'],
      ['alert', 'low', 2, 'low'],
    ];
    for (const [action, confidence, value, label] of table) expect(detectionSeverity({ action, confidence }), `${action}/${confidence}`).toEqual({ value, label });
  });

  it('gives every detection kind, with its default action, a severity of at least low', () => {
    for (const kind of DETECTION_KINDS) {
      const severity = eventSeverity({ name: `detection.${kind}`, detection: { kind, confidence: 'low', evidence: '', action: DEFAULT_DETECTION_ACTIONS[kind], time_to_detect_ms: 0 } });
      expect(severity.value, kind).toBeGreaterThanOrEqual(2);
    }
  });

  it('rates the other events: quarantine high, rejected config and listener errors medium, denials low, the rest informational', () => {
    expect(eventSeverity({ name: 'agent.quarantined' })).toEqual({ value: 4, label: 'high' });
    expect(eventSeverity({ name: 'config.rejected' }).value).toBe(3);
    expect(eventSeverity({ name: 'listener.error' }).value).toBe(3);
    expect(eventSeverity({ name: 'flow.denied', ruleId: 'auth.invalid-credentials' }).value).toBe(3);
    expect(eventSeverity({ name: 'flow.denied', ruleId: 'default-deny' })).toEqual({ value: 2, label: 'low' });
    expect(eventSeverity({ name: 'flow.alerted' }).value).toBe(2);
    for (const name of ['flow.allowed', 'flow.closed', 'proxy.started', 'proxy.stopped', 'proxy.heartbeat', 'config.reloaded'] as const) {
      expect(eventSeverity({ name }), name).toEqual({ value: 1, label: 'informational' });
    }
  });
});
