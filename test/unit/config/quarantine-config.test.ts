import { describe, expect, it } from 'vitest';
import { formatConfigError } from '../../../src/config/errors.js';
import { parseConfigText } from '../../../src/config/load-config.js';
import { formatSeconds, parseByteSize, parseDurationSeconds } from '../../../src/config/quantities.js';

const FILE = '/etc/chokepoint/chokepoint.yaml';

describe('quarantine: config section', () => {
  it('defaults to no expiry and no webhooks', () => {
    const result = parseConfigText(FILE, 'inspect: true\n');
    expect(result.ok && result.config.quarantine).toEqual({ defaultDurationS: null, durationsS: {}, webhooks: [] });
  });

  it('reads durations and webhooks with their defaults', () => {
    const result = parseConfigText(FILE, `quarantine:
  default_duration_s: 3600
  durations_s: { mining_port: 600 }
  webhooks:
    - url: https://trainer.internal/pause
      headers: { Authorization: "Bearer \${env:TRAINER_TOKEN}", X-Key: "\${file:/run/secrets/key}" }
      on: [quarantined]
`);
    if (!result.ok) throw new Error(result.errors.map(formatConfigError).join('\n'));
    expect(result.config.quarantine).toEqual({
      defaultDurationS: 3600,
      durationsS: { mining_port: 600 },
      webhooks: [{
        url: 'https://trainer.internal/pause',
        headers: { Authorization: 'Bearer ${env:TRAINER_TOKEN}', 'X-Key': '${file:/run/secrets/key}' },
        timeoutMs: 5000, on: ['quarantined'], retries: 5, backoffMs: 500,
      }],
    });
  });

  it('reports each bad key with its line', () => {
    const result = parseConfigText(FILE, `quarantine:
  default_duration_s: 0
  durations_s: { mining: 60 }
  webhooks:
    - url: ftp://x/
      headers: { A: "\${file:relative/path}", B: "\${vault:x}" }
      timeout: 5
`);
    expect(result.ok).toBe(false);
    const errors = result.ok ? [] : result.errors.map(formatConfigError);
    expect(errors.join('\n')).toMatch(/:2: quarantine\.default_duration_s: /);
    expect(errors.join('\n')).toMatch(/:3: quarantine\.durations_s/);
    expect(errors.join('\n')).toMatch(/:5: quarantine\.webhooks\[0\]\.url: url must be an http/);
    expect(errors.join('\n')).toMatch(/:6: quarantine\.webhooks\[0\]\.headers\.A: .*absolute path/);
    expect(errors.join('\n')).toMatch(/headers\.B: .*not a reference/);
    expect(errors.join('\n')).toMatch(/unknown key "timeout"|timeout/);
  });
});

describe('quantities', () => {
  it('parses durations and sizes with explicit units', () => {
    expect(parseDurationSeconds('90s')).toEqual({ ok: true, value: 90 });
    expect(parseDurationSeconds('10m')).toEqual({ ok: true, value: 600 });
    expect(parseDurationSeconds('2h')).toEqual({ ok: true, value: 7200 });
    expect(parseDurationSeconds('1d')).toEqual({ ok: true, value: 86_400 });
    expect(parseDurationSeconds('250ms')).toEqual({ ok: true, value: 0.25 });
    expect(parseDurationSeconds(30)).toEqual({ ok: true, value: 30 });
    expect(parseDurationSeconds('soon').ok).toBe(false);
    expect(parseDurationSeconds('0s').ok).toBe(false);
    expect(parseDurationSeconds(-1).ok).toBe(false);
    expect(parseByteSize('500MiB')).toEqual({ ok: true, value: 500 * 2 ** 20 });
    expect(parseByteSize('10MB')).toEqual({ ok: true, value: 10_000_000 });
    expect(parseByteSize('1.5KiB')).toEqual({ ok: true, value: 1536 });
    expect(parseByteSize(4096)).toEqual({ ok: true, value: 4096 });
    expect(parseByteSize('500M').ok).toBe(false);
    expect(parseByteSize('lots').ok).toBe(false);
    expect(formatSeconds(3600)).toBe('1h');
    expect(formatSeconds(90)).toBe('90s');
    expect(formatSeconds(600)).toBe('10m');
  });
});
