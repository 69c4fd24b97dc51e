// A poll's client as the core sees it (PollClient, pending-polls.ts), on node:http: gone once the
// response closes, which before the answer means the client hung up. One per poll, so it is one
// small object and one 'close' listener on the response, not an AbortController: an AbortSignal
// is an EventTarget, and one per poll cost a few per cent of a wake (docs/performance.md).
import type { ServerResponse } from 'node:http';
import type { ClientGoneListener, PollClient } from '../core/pending-polls.js';

export class ResponseClient implements PollClient {
  gone = false;
  #listener: ClientGoneListener | undefined = undefined;
  readonly #res: ServerResponse;
  readonly #onClose = (): void => {
    this.gone = true;
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.clientGone();
  };

  /** Listens for `res` closing until detach(). */
  constructor(res: ServerResponse) {
    this.#res = res;
    res.on('close', this.#onClose);
  }

  listen(listener: ClientGoneListener | undefined): void {
    this.#listener = listener;
  }

  /** Stops listening to the response: the poll has its answer. */
  detach(): void {
    this.#res.off('close', this.#onClose);
  }
}
