import type { EventInput, Tags } from '../events/types.js';

/**
 * Training-step markers: a trainer says "agent A is now at run R, episode E, step S" and every later
 * event of that agent carries those labels until the next marker for it. This is how a SIEM lines up
 * an agent's egress with the training step that caused it, without the agent having to tag each
 * connection itself.
 *
 * Precedence: tags the flow itself carried (`Chokepoint-Tags` header, proxy user name) win over the
 * marker for the same key: they were set by the client for that very connection, while the marker is
 * the trainer's coarser "current step". Keys the flow did not set come from the marker.
 *
 * Memory is bounded: one marker per agent of the rules (the admin API refuses other names), each of at
 * most 16 validated labels.
 */

export interface Marker {
  labels: Tags;
  /** ISO time it was set. */
  setAt: string;
}

export class TrainingMarkers {
  private readonly byAgent = new Map<string, Marker>();

  /** Replaces the agent's marker; an empty label set clears it. Returns the marker now in force. */
  set(agent: string, labels: Tags, now = new Date()): Marker | undefined {
    if (Object.keys(labels).length === 0) {
      this.byAgent.delete(agent);
      return undefined;
    }
    const marker = { labels: { ...labels }, setAt: now.toISOString() };
    this.byAgent.set(agent, marker);
    return marker;
  }

  get(agent: string): Marker | undefined {
    return this.byAgent.get(agent);
  }

  /** The EventBus enrich hook: adds the agent's marker labels under the event's own tags. */
  readonly enrich = (input: EventInput): EventInput => {
    if (input.agent === undefined) return input;
    const marker = this.byAgent.get(input.agent);
    if (!marker) return input;
    return { ...input, tags: { ...marker.labels, ...input.tags } };
  };
}
