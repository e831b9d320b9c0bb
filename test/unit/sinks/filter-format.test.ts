import { describe, expect, it } from 'vitest';
import { ECS_VERSION } from '../../../src/events/catalogue.js';
import { eventSeverity as centralSeverity } from '../../../src/events/severity.js';
import type { ChokepointEvent } from '../../../src/events/types.js';
import { compileFilter, globToRegExp } from '../../../src/sinks/filter.js';
import { formatterFor, formatLine } from '../../../src/sinks/format.js';
import { eventSeverity } from '../../../src/sinks/severity.js';
import { escapeParamValue, formatSyslog, frameOctetCounted } from '../../../src/sinks/syslog-format.js';

interface Parts {
  event?: Omit<ChokepointEvent['event'], 'severity'>;
  chokepoint?: Omit<ChokepointEvent['chokepoint'], 'schema_version' | 'severity_label'>;
}

/** A fixed event (syslog output is compared byte for byte) with the severity the bus would give it. */
function event(action: ChokepointEvent['event']['action'], extra: Parts = {}): ChokepointEvent {
  const head = extra.event ?? { action, sequence: 7, kind: 'event' as const };
  const chokepoint = extra.chokepoint ?? {};
  const severity = centralSeverity({ name: head.action, ...(chokepoint.detection ? { detection: chokepoint.detection } : {}) });
  return {
    '@timestamp': '2026-11-26T20:00:00.123Z',
    ecs: { version: ECS_VERSION },
    event: { ...head, severity: severity.value },
    chokepoint: { schema_version: '1.0.0', severity_label: severity.label, ...chokepoint },
  };
}

const stratum = event('detection.stratum', {
  event: { action: 'detection.stratum', sequence: 9, kind: 'alert' },
  chokepoint: { agent: 'coder-7', flow_id: 'f-1', detection: { kind: 'stratum', confidence: 'high', evidence: 'mining.subscribe', action: 'deny', time_to_detect_ms: 3 } },
});

describe('sink filters', () => {
  it('matches event names with globs, dots included', () => {
    expect(globToRegExp('detection.*').test('detection.ssh.banner')).toBe(true);
    expect(globToRegExp('flow.denied').test('flow.deniedX')).toBe(false);
    expect(globToRegExp('flow.?losed').test('flow.closed')).toBe(true);
    expect(globToRegExp('flow.denied').test('flowXdenied')).toBe(false);
  });

  it('applies include, exclude and minimum severity together', () => {
    const accepts = compileFilter({ events: ['detection.*', 'flow.*'], excludeEvents: ['flow.closed'], minSeverity: 'low' });
    expect(accepts(stratum)).toBe(true);
    expect(accepts(event('flow.denied'))).toBe(true);
    expect(accepts(event('flow.closed'))).toBe(false);
    expect(accepts(event('flow.allowed'))).toBe(false);
    expect(accepts(event('proxy.started'))).toBe(false);
    expect(compileFilter({})(event('proxy.started'))).toBe(true);
  });

  it('names the severity the bus gave (event.severity 1-5) on the filter scale', () => {
    expect(eventSeverity(stratum)).toBe('high');
    expect(eventSeverity(event('flow.allowed'))).toBe('info');
    expect(eventSeverity(event('flow.denied'))).toBe('low');
    expect(eventSeverity(event('agent.quarantined'))).toBe('high');
  });

  it('writes one JSON line per event in either format', () => {
    for (const format of ['ecs', 'ocsf'] as const) {
      const line = formatLine(stratum, formatterFor(format));
      expect(line).not.toContain('\n');
      expect(JSON.parse(line)).toBeTypeOf('object');
    }
  });
});

describe('RFC 5424 syslog messages', () => {
  it('has PRI, version, timestamp, app-name, msgid, structured data and the JSON event', () => {
    const message = formatSyslog(stratum, 'high', '{"a":1}', { facility: 16, appName: 'chokepoint', hostname: 'box', procId: '42' });
    // local0 (16) * 8 + error (3) = 131
    expect(message).toBe('<131>1 2026-11-26T20:00:00.123Z box chokepoint 42 detection.stratum [chokepoint@32473 seq="9" kind="alert" agent="coder-7" flow="f-1" detection="stratum"] {"a":1}');
  });

  it('escapes the three special characters of parameter values', () => {
    expect(escapeParamValue('a"b\\c]d')).toBe('a\\"b\\\\c\\]d');
  });

  it('frames with the length in octets, not characters', () => {
    expect(frameOctetCounted('é')).toBe('2 é');
  });
});
