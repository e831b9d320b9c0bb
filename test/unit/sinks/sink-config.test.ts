import { describe, expect, it } from 'vitest';
import { formatConfigError } from '../../../src/config/errors.js';
import { parseConfigText, type ConfigResult } from '../../../src/config/load-config.js';

const FILE = '/etc/chokepoint/chokepoint.yaml';

function errorsOf(result: ConfigResult): string[] {
  if (result.ok) throw new Error('expected the config to be rejected');
  return result.errors.map(formatConfigError);
}

describe('sinks: in the config file', () => {
  it('reads every sink type with defaults and resolves paths against the config directory', () => {
    const result = parseConfigText(
      FILE,
      `sinks:
  - type: stdout
    format: ocsf
    events: ["detection.*"]
  - type: file
    path: logs/events.jsonl
    rotate: { max_bytes: 1048576, daily: true, keep: 3 }
    fsync: batch
  - type: syslog
    transport: tls
    host: siem.example
    ca_file: tls/ca.pem
    facility: local3
    min_severity: medium
  - type: http
    name: splunk
    url: https://hec.example:8088/services/collector/event
    style: splunk_hec
    token_env: HEC_TOKEN
    spool: { max_bytes: 1048576 }
`,
    );
    if (!result.ok) throw new Error(result.errors.map(formatConfigError).join('\n'));
    const [stdout, file, syslog, http] = result.config.sinks;
    expect(stdout).toMatchObject({ type: 'stdout', name: 'stdout-0', format: 'ocsf', events: ['detection.*'] });
    expect(file).toMatchObject({ type: 'file', path: '/etc/chokepoint/logs/events.jsonl', rotate: { maxBytes: 1048576, daily: true, keep: 3 }, fsync: 'batch' });
    expect(syslog).toMatchObject({ type: 'syslog', port: 6514, facility: 19, caFile: '/etc/chokepoint/tls/ca.pem', minSeverity: 'medium', appName: 'chokepoint' });
    expect(http).toMatchObject({ type: 'http', name: 'splunk', style: 'splunk_hec', tokenEnv: 'HEC_TOKEN', spool: { maxBytes: 1048576, segmentBytes: 131072 } });
  });

  it('reports bad sinks with file, line and key path', () => {
    const errors = errorsOf(
      parseConfigText(
        FILE,
        `sinks:
  - type: kafka
  - type: syslog
    transport: udp
    ca_file: ca.pem
    facility: local9
  - type: http
    url: ftp://x
    format: cef
  - type: file
`,
      ),
    );
    expect(errors).toEqual([
      `${FILE}:2: sinks[0].type: type must be one of "stdout", "file", "syslog", "http"`,
      `${FILE}:6: sinks[1].facility: unknown facility "local9"; use local0..local7, daemon, … or 0-23`,
      `${FILE}:8: sinks[2].url: url must be an http:// or https:// URL`,
      `${FILE}:9: sinks[2].format: must be one of "ecs", "ocsf"; got "cef"`,
      `${FILE}:10: sinks[3].path: is required`,
    ]);
  });

  it('rejects TLS files on a plain transport and half a client certificate', () => {
    const errors = errorsOf(parseConfigText(FILE, 'sinks:\n  - type: syslog\n    ca_file: ca.pem\n  - type: syslog\n    transport: tls\n    cert_file: c.pem\n'));
    expect(errors).toEqual([
      `${FILE}:3: sinks[0].ca_file: ca_file needs transport: tls`,
      `${FILE}:4: sinks[1].key_file: cert_file and key_file go together`,
    ]);
  });

  it('rejects a syslog max_message_bytes that no UDP datagram holds', () => {
    const errors = errorsOf(parseConfigText(FILE, 'sinks:\n  - { type: syslog, max_message_bytes: 70000 }\n  - { type: syslog, transport: tcp, max_message_bytes: 70000 }\n'));
    expect(errors).toEqual([`${FILE}:2: sinks[0].max_message_bytes: max_message_bytes above 65507 does not fit a UDP datagram; use transport tcp or tls`]);
  });

  it('rejects credentials in the collector URL (they would show in error messages)', () => {
    const errors = errorsOf(parseConfigText(FILE, 'sinks:\n  - type: http\n    url: "https://user:secret@hec.example/"\n'));
    expect(errors).toEqual([`${FILE}:3: sinks[0].url: url must not hold credentials; use token_env, token_file or headers_from_env`]);
  });

  it('rejects two sinks with the same name (they would share a spool)', () => {
    const errors = errorsOf(parseConfigText(FILE, 'sinks:\n  - { type: http, url: "http://a/", name: s }\n  - { type: http, url: "http://b/", name: s }\n'));
    expect(errors).toEqual([`${FILE}:3: sinks[1].name: sink name "s" is used twice`]);
  });
});

describe('sinks and the implicit events sink', () => {
  it('rejects events.file together with sinks, and --events over a config with sinks', async () => {
    const { applyCliOverrides } = await import('../../../src/config/load-config.js');
    const both = errorsOf(parseConfigText(FILE, 'events: { file: e.jsonl }\nsinks:\n  - type: stdout\n'));
    expect(both).toEqual([`${FILE}:1: events.file: events.file is not used when sinks are listed; add a "type: file" sink instead`]);
    const parsed = parseConfigText(FILE, 'sinks:\n  - type: stdout\n');
    if (!parsed.ok) throw new Error('config rejected');
    expect(errorsOf(applyCliOverrides(parsed.config, { events: 'x.jsonl' }, '/tmp'))).toEqual([
      'command line: --events: the config file lists sinks; add a "type: file" or "type: stdout" sink there instead',
    ]);
    expect(applyCliOverrides(parsed.config, { http: '127.0.0.1:0' }, '/tmp').ok).toBe(true);
  });
});
