import { afterEach, describe, expect, it } from 'vitest';
import type { WebhookConfig } from '../../../src/config/quarantine-config.js';
import { EventBus } from '../../../src/events/bus.js';
import { WebhookNotifier, type QuarantineNotice } from '../../../src/quarantine/webhooks.js';
import { webhookReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

/**
 * A trainer pauses and resumes a job from what its webhook last accepted, so for one agent the last
 * notice accepted must be the latest transition: a retried `quarantined` must never land after the
 * `released` that followed it. And what waits per agent is bounded: a newer notice supersedes an older
 * one still retrying (only the latest state matters to the receiver).
 */

let receiver: WebhookReceiver | undefined;
let notifier: WebhookNotifier | undefined;

afterEach(async () => {
  notifier?.stop();
  await receiver?.close();
});

const hook = (url: string): WebhookConfig => ({ url, headers: {}, timeoutMs: 5_000, on: ['quarantined', 'released'], retries: 3, backoffMs: 20 });
const notice = (event: QuarantineNotice['event'], agent = 'coder'): QuarantineNotice => ({ event, agent, reason: 'test', expires_at: null, at: new Date().toISOString() });

describe('webhook delivery order', () => {
  it('a release notified while the quarantine notice is being retried is the last one the receiver accepts', async () => {
    let requests = 0;
    const accepted: string[] = [];
    receiver = await webhookReceiver((hook) => {
      requests += 1;
      // The receiver hiccups on the very first request only.
      if (requests === 1) return 503;
      accepted.push((hook.body as QuarantineNotice).event);
      return 204;
    });
    notifier = new WebhookNotifier([hook(receiver.url)], new EventBus());
    notifier.notify(notice('quarantined'));
    notifier.notify(notice('released'));
    await notifier.idle();
    expect(accepted.at(-1)).toBe('released');
    expect(accepted).toEqual(['released']);
  });

  it('other agents are not held up, and each gets its own notices', async () => {
    const accepted: string[] = [];
    receiver = await webhookReceiver((hook) => {
      const body = hook.body as QuarantineNotice;
      accepted.push(`${body.agent} ${body.event}`);
      return 204;
    });
    notifier = new WebhookNotifier([hook(receiver.url)], new EventBus());
    notifier.notify(notice('quarantined', 'a'));
    notifier.notify(notice('quarantined', 'b'));
    await notifier.idle();
    notifier.notify(notice('released', 'a'));
    await notifier.idle();
    expect(accepted.sort()).toEqual(['a quarantined', 'a released', 'b quarantined']);
  });
});

describe('webhook shutdown', () => {
  it('stop ends a request in flight at once, instead of holding the process until its timeout', async () => {
    receiver = await webhookReceiver(() => 'hang');
    const events = new EventBus();
    const failures: string[] = [];
    events.subscribe((event) => {
      if (event.event.action === 'quarantine.webhook_failed') failures.push(String(event.chokepoint.details?.error));
    });
    notifier = new WebhookNotifier([{ ...hook(receiver.url), timeoutMs: 120_000 }], events);
    notifier.notify(notice('quarantined'));
    await receiver.waitFor(() => true);
    notifier.stop();
    await notifier.idle();
    expect(failures).toHaveLength(1);
  });
});
