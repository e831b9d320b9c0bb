import { describe, expect, it } from 'vitest';
import { EventBus, type EventSink } from '../../../src/events/bus.js';
import { eventJson } from '../../../src/events/chain.js';
import { LogVerifier } from '../../../src/events/log-verifier.js';
import type { ChokepointEvent } from '../../../src/events/types.js';

/** A sink that keeps each event as the line a file sink would write (eventJson, as the real sinks do). */
function lineSink(): EventSink & { lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (event) => void lines.push(eventJson(event)), flush: () => Promise.resolve() };
}

function verify(lines: string[]): { intact: boolean; sequences: number[] } {
  const verifier = new LogVerifier();
  lines.forEach((line, index) => verifier.push(line, { file: 'log', line: index + 1 }));
  const report = verifier.finish();
  return { intact: report.problems.length === 0, sequences: lines.map((line) => (JSON.parse(line) as ChokepointEvent).event.sequence) };
}

describe('EventBus re-entrancy: an event emitted while another is delivered', () => {
  it('reaches every sink after the event being delivered (a sink reporting from write), chain intact', () => {
    const bus = new EventBus();
    let reported = false;
    // Like a sink that reports its own trouble (sink.error / sink.dropped) synchronously from write.
    const reporting: EventSink = {
      write: () => {
        if (reported) return;
        reported = true;
        bus.emit({ name: 'sink.error', kind: 'alert', outcome: 'failure', reason: 'queue full' });
      },
      flush: () => Promise.resolve(),
    };
    const file = lineSink();
    bus.addSink(reporting);
    bus.addSink(file);
    bus.emit({ name: 'proxy.started', kind: 'state', details: { http: null, socks: null, rules: '/r', inspect: true, agents: [] } });
    bus.emit({ name: 'proxy.stopped', kind: 'state' });
    const { intact, sequences } = verify(file.lines);
    expect(sequences).toEqual([1, 2, 3]);
    expect(intact).toBe(true);
  });

  it('reaches later subscribers and sinks in order when a subscriber emits', () => {
    const bus = new EventBus();
    const file = lineSink();
    bus.addSink(file);
    const seen: number[] = [];
    bus.subscribe((event) => {
      if (event.event.action === 'proxy.started') bus.emit({ name: 'config.reloaded', kind: 'state', reason: 'from a subscriber' });
    });
    bus.subscribe((event) => void seen.push(event.event.sequence));
    bus.emit({ name: 'proxy.started', kind: 'state', details: { http: null, socks: null, rules: '/r', inspect: true, agents: [] } });
    bus.emit({ name: 'proxy.stopped', kind: 'state' });
    expect(seen).toEqual([1, 2, 3]);
    const { intact, sequences } = verify(file.lines);
    expect(sequences).toEqual([1, 2, 3]);
    expect(intact).toBe(true);
  });

  it('keeps delivering after a sink threw', () => {
    const bus = new EventBus();
    const file = lineSink();
    let throwOnce = true;
    bus.addSink({ write: () => { if (throwOnce) { throwOnce = false; throw new Error('boom'); } }, flush: () => Promise.resolve() });
    bus.addSink(file);
    expect(() => bus.emit({ name: 'proxy.started', kind: 'state', details: { http: null, socks: null, rules: '/r', inspect: true, agents: [] } })).toThrow('boom');
    bus.emit({ name: 'proxy.stopped', kind: 'state' });
    expect(verify(file.lines).sequences).toEqual([2]);
  });
});
