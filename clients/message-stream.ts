/**
 * The Node client's server messages as an async iterable (clients/node-client.ts). Messages are kept only for an
 * active iterator: one made (a `for await` begins) and not yet left (`break`, `return()`) or run to its end. While
 * none is active nothing is kept, so a caller that only uses `onMessage` listeners (a voice bot, for hours) holds
 * no messages: the client used to keep every one for an iterator that never came, or that had been left.
 */
import type { ServerMessage } from '../src/protocol/messages.js';

type Reader = (result: IteratorResult<ServerMessage>) => void;

const DONE: IteratorResult<ServerMessage> = { value: undefined, done: true };

export class MessageStream implements AsyncIterable<ServerMessage> {
  /** Arrived for the active iterators, not yet asked for. */
  private queue: ServerMessage[] = [];
  private readers: Reader[] = [];
  private activeIterators = 0;
  private ended = false;

  /** A message arrived: to a waiting reader, else kept while an iterator is active. */
  push(msg: ServerMessage): void {
    const reader = this.readers.shift();
    if (reader !== undefined) reader({ value: msg, done: false });
    else if (this.activeIterators > 0) this.queue.push(msg);
  }

  /** No more messages: the iterators finish once they have taken what is kept. */
  end(): void {
    this.ended = true;
    for (const r of this.readers.splice(0)) r(DONE);
  }

  [Symbol.asyncIterator](): AsyncIterator<ServerMessage> {
    this.activeIterators++;
    let left = false;
    const leave = (): IteratorResult<ServerMessage> => {
      if (left) return DONE;
      left = true;
      if (--this.activeIterators === 0) {
        this.queue = []; // kept for a consumer that has gone
        for (const r of this.readers.splice(0)) r(DONE);
      }
      return DONE;
    };
    return {
      next: () => {
        if (left) return Promise.resolve(DONE);
        const msg = this.queue.shift();
        if (msg !== undefined) return Promise.resolve({ value: msg, done: false });
        if (this.ended) return Promise.resolve(leave());
        return new Promise<IteratorResult<ServerMessage>>((resolve) => this.readers.push(resolve));
      },
      return: () => Promise.resolve(leave()),
    };
  }
}
