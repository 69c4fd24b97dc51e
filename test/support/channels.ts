// What a node publishes on its channels (src/core/channels.ts), recorded for a test: every message
// of `origin`, by channel, until the test finishes.
import { onTestFinished } from 'vitest';
import { channels, observe, type Message, type Messages, type Observer, type Origin } from '../../src/core/channels.js';

export type Recorded = { readonly [K in keyof Messages]: Array<Message<K>> };

export function recordChannels(origin: Origin): Recorded {
  const recorded: Record<string, unknown[]> = {};
  const observer: Record<string, (message: unknown) => void> = {};
  for (const name of Object.keys(channels)) {
    const messages: unknown[] = (recorded[name] = []);
    observer[name] = (message) => messages.push(message);
  }
  onTestFinished(observe(origin, observer as Observer));
  return recorded as unknown as Recorded;
}
