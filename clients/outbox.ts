/**
 * What the Node client (clients/node-client.ts) has yet to send. Audio, `session.update`, `session.finalize` and
 * `session.end` keep the order the caller asked for them in: a finalize or end takes effect at its place in the audio
 * stream (docs/protocol.md section 2). A `ping` is no part of that stream: the server answers it on arrival, ahead of
 * queued audio, so it has a lane of its own that goes first: a liveness check is not held behind audio that
 * `flow.pause` holds (its pong says the server is alive, not that the audio asked for before it arrived).
 */
import type { GatewayError } from '../src/protocol/errors.js';
import type { Pending } from './reply-tracker.js';

export interface Waiter<T> { resolve: (v: T) => void; reject: (e: GatewayError) => void }
export type Outbound = { kind: 'audio'; bytes: Uint8Array; done: Waiter<void> }
  | { kind: 'text'; text: string; track: Pending; sent?: () => void };

const isPing = (item: Outbound): boolean => item.kind === 'text' && item.track.kind === 'ping';

export class Outbox {
  private readonly pings: Outbound[] = [];
  private stream: Outbound[] = [];

  /** Queues `item` last in its lane, or first (a frame the server refused unread, sent again in its place). */
  push(item: Outbound, front = false): void {
    const lane = isPing(item) ? this.pings : this.stream;
    if (front) lane.unshift(item);
    else lane.push(item);
  }

  /** The next item to send: the oldest ping, else the head of the stream. */
  get head(): Outbound | undefined { return this.pings[0] ?? this.stream[0]; }

  /** Removes the head, once sent. */
  shift(): void {
    if (this.pings.shift() === undefined) this.stream.shift();
  }

  /** Removes and returns the stream's items that `drop` picks. */
  take(drop: (item: Outbound) => boolean): Outbound[] {
    const taken = this.stream.filter(drop);
    this.stream = this.stream.filter((item) => !drop(item));
    return taken;
  }

  /** Removes and returns everything (the socket closed). */
  takeAll(): Outbound[] {
    return [...this.pings.splice(0), ...this.take(() => true)];
  }
}
