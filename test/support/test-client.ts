// A poll's client for tests of the core: hangUp() is the client hanging up, and `listener` shows
// what listens to it (the HTTP layer's is http/poll-response.ts).
import type { ClientGoneListener, PollClient } from '../../src/core/pending-polls.js';

export class TestClient implements PollClient {
  gone = false;
  listener: ClientGoneListener | undefined;
  /** What the core took for the poll (its slot), kept as the HTTP layer keeps it until the request ends. */
  kept: (() => void) | undefined;

  listen(listener: ClientGoneListener | undefined): void {
    this.listener = listener;
  }

  keep(release: () => void): void {
    this.kept = release;
  }

  hangUp(): void {
    if (this.gone) return;
    this.gone = true;
    const listener = this.listener;
    this.listener = undefined;
    listener?.clientGone();
  }
}
