import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestProxy } from '../helpers/proxy.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * proxy.stopped is the last event of a run: what the stop itself cuts short (a webhook delivery still
 * waiting for its receiver) reports before it, and nothing starts during the stop (a reload) — an event
 * after proxy.stopped reaches sinks that are already closed. (Flows terminated by the stop: see
 * all-features.test.ts.)
 */
describe('nothing after proxy.stopped', () => {
  let rules: TempRules;
  let hook: WebhookReceiver;

  beforeAll(async () => {
    rules = await tempRules(DENY_UNKNOWN_POLICY, { coder: 'agent: coder\nidentify: { sources: ["127.0.0.1/32"] }\nallow: []\n' });
    hook = await webhookReceiver(() => 'hang');
  });
  afterAll(async () => {
    await hook.close();
    await rules.remove();
  });

  it('a webhook delivery cut short by the stop reports before proxy.stopped', async () => {
    const proxy = await startTestProxy(rules.dir, (config) => {
      config.quarantine.webhooks = [{ url: hook.url, headers: {}, timeoutMs: 600_000, on: ['quarantined', 'released'], retries: 0, backoffMs: 500 }];
    });
    proxy.proxy.pipeline.quarantines.enter({ agent: 'coder', reason: 'test' });
    await hook.waitFor(() => true);
    await proxy.stop();
    // Whatever the abandoned delivery reports is reported by now (its request was aborted by the stop).
    await proxy.proxy.pipeline.quarantines.webhooksIdle();
    const actions = proxy.log.events.map((event) => event.event.action);
    expect(actions.at(-1)).toBe('proxy.stopped');
    expect(actions).toContain('quarantine.webhook_failed');
  });

  it('does not reload after a stop began (an admin API request or SIGHUP landing during the stop)', async () => {
    const proxy = await startTestProxy(rules.dir);
    const stopped = proxy.stop();
    const late = proxy.proxy.reload('during stop');
    await stopped;
    expect((await late).ok).toBe(false);
    expect(proxy.log.events.map((event) => event.event.action).at(-1)).toBe('proxy.stopped');
  });
});
