import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestProxy } from '../helpers/proxy.js';
import { DENY_UNKNOWN_POLICY, tempRules, type TempRules } from '../helpers/rules.js';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * proxy.stopped is the last event of a run: what the stop itself cuts short (a webhook delivery still
 * waiting for its receiver) reports before it, never after — an event after proxy.stopped reaches sinks
 * that are already closed, or makes a log look like two runs interleaved.
 */
describe('stop with a webhook delivery in flight', () => {
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

  it('emits nothing after proxy.stopped', async () => {
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
});
