import { afterEach, describe, expect, it } from 'vitest';
import { formatConfigError } from '../../../src/config/errors.js';
import { loadRules } from '../../../src/config/load-rules.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../../helpers/rules.js';

let rules: TempRules | undefined;
afterEach(async () => {
  await rules?.remove();
  rules = undefined;
});

describe('budgets: in agent files', () => {
  it('reads sizes and durations the human way', async () => {
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      coder: `agent: coder
budgets:
  bytes_out: { limit: 500MiB, window: 1h, action: quarantine }
  new_destinations: { limit: 50, window: 10m, action: alert }
  connection_duration: { max: 2h, action: deny }
`,
    });
    const loaded = await loadRules(rules.dir);
    if (!loaded.ok) throw new Error(loaded.errors.map(formatConfigError).join('\n'));
    expect(loaded.ruleSet.agents[0]?.budgets).toEqual({
      bytesOut: { limit: 500 * 2 ** 20, windowMs: 3_600_000, action: 'quarantine' },
      newDestinations: { limit: 50, windowMs: 600_000, action: 'alert' },
      connectionDuration: { maxMs: 7_200_000, action: 'deny' },
    });
  });

  it('reports every mistake with file, line and key', async () => {
    rules = await tempRules(DENY_UNKNOWN_POLICY, {
      coder: `agent: coder
budgets:
  bytes_out: { limit: 500M, window: 1h, action: quarantine }
  new_destinations: { limit: 0, window: forever, action: alert }
  connection_duration: { max: 2h, action: kill }
  bytes_in: { limit: 1 }
`,
    });
    const loaded = await loadRules(rules.dir);
    expect(loaded.ok).toBe(false);
    const text = loaded.ok ? '' : loaded.errors.map(formatConfigError).join('\n');
    expect(text).toMatch(/coder\.yaml:3: budgets\.bytes_out\.limit: "500M" is not a size/);
    expect(text).toMatch(/coder\.yaml:4: budgets\.new_destinations\.limit: /);
    expect(text).toMatch(/coder\.yaml:4: budgets\.new_destinations\.window: "forever" is not a duration/);
    expect(text).toMatch(/coder\.yaml:5: budgets\.connection_duration\.action: /);
    expect(text).toMatch(/coder\.yaml:6: budgets.*bytes_in/);
  });
});
