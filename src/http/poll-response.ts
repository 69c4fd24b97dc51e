// A held poll's request on node:http, and the one owner of what the poll holds until it ends: its
// client as the core sees it (PollClient: gone once the response closes, which before the answer
// means the client hung up), the per-address slot the core took for it, and the receipt of a
// final status it carries. One 'close' listener on the response frees all three, once: the slot is
// given back, the receipt settled with whether the response left, and the hold told the client
// left (if it still listens). So a poll's end is the response's end, however it came.
//
// One small object and one listener per poll, not an AbortController: an AbortSignal is an
// EventTarget, and one per poll cost a few per cent of a wake (docs/performance.md).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { HandOutReceipt } from '../core/hand-out.js';
import type { ClientGoneListener, PollClient } from '../core/pending-polls.js';
import type { PollAnswer } from '../core/session-service.js';
import type { PollAnswerBody } from './answers.js';
import { sendEmpty, sendJson } from './respond.js';
import type { HeaderList } from './response-headers.js';

const CONNECTION_CLOSE: HeaderList = ['Connection', 'close'];

export class PollResponse implements PollClient {
  gone = false;
  #listener: ClientGoneListener | undefined = undefined;
  #release: (() => void) | undefined = undefined;
  #receipt: HandOutReceipt | undefined = undefined;
  readonly #res: ServerResponse;
  readonly #socket: Socket;
  readonly #onClose = (): void => {
    this.gone = true;
    this.#release?.();
    this.#release = undefined;
    this.#receipt?.settle(this.#res.writableFinished);
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.clientGone();
  };

  /** Owns the poll `req` asks for until `res` closes: listen before the first await. */
  constructor(req: IncomingMessage, res: ServerResponse) {
    this.#res = res;
    this.#socket = req.socket;
    res.on('close', this.#onClose);
  }

  listen(listener: ClientGoneListener | undefined): void {
    this.#listener = listener;
  }

  keep(release: () => void): void {
    if (this.gone) release();
    else this.#release = release;
  }

  /** Writes the poll's answer: a view (200), 204, or nothing to a client that left. */
  write(answer: PollAnswer, headers: HeaderList): void {
    if (answer.view === undefined) {
      if (answer.reason === 'client-closed') return;
      // On shutdown, also ask the client to reconnect elsewhere rather than reuse this socket.
      sendEmpty(this.#res, 204, headers, answer.reason === 'shutdown' ? CONNECTION_CLOSE : undefined);
      return;
    }
    const { handOut } = answer;
    if (handOut !== undefined) {
      // A final status: recorded as delivered once this response has left, given back if not.
      if (this.#socket.destroyed || this.gone) {
        handOut.settle(false);
        return;
      }
      this.#receipt = handOut;
    }
    sendJson(this.#res, 200, answer.view satisfies PollAnswerBody, headers);
  }
}
