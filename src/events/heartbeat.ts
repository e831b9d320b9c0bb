import type { EventBus } from './bus.js';

/**
 * `proxy.heartbeat` every `intervalSeconds`: counts that make silence visible to a SIEM. A proxy that
 * stops sending heartbeats is down or cut off; one whose `events_emitted` stops moving while flows
 * are live is stuck. The timer is unref'd so it never keeps the process alive on its own.
 */

export interface Heartbeat {
  stop(): void;
}

export interface HeartbeatSources {
  liveFlows(): number;
}

export function startHeartbeat(events: EventBus, intervalSeconds: number, sources: HeartbeatSources): Heartbeat {
  if (intervalSeconds <= 0) return { stop: () => {} };
  const startedAt = process.hrtime.bigint();
  const timer = setInterval(() => {
    const uptimeSeconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
    events.emit({
      name: 'proxy.heartbeat',
      kind: 'state',
      details: {
        interval_s: intervalSeconds,
        uptime_s: Math.round(uptimeSeconds * 1000) / 1000,
        // Before this heartbeat: the sequence number of the heartbeat itself is one more.
        events_emitted: events.emitted,
        live_flows: sources.liveFlows(),
      },
    });
  }, intervalSeconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
