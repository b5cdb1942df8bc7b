import { InProcessTransport } from '../../shared/messaging/in-process-transport.js';
import type { OutgoingMessage, PublishReceipt } from '../../shared/messaging/publisher.js';

/**
 * The in-process broker with one more failure mode: `hang()` makes every publish wait for ever (a broker that
 * accepts the connection and never answers — worse than one that refuses), until `answer()`.
 */
export class HangingBroker extends InProcessTransport {
  private hanging = false;
  /** Publishes that were left hanging. */
  hungCalls = 0;

  hang(): void {
    this.hanging = true;
  }

  answer(): void {
    this.hanging = false;
  }

  override publish(messages: readonly OutgoingMessage[]): Promise<PublishReceipt> {
    if (!this.hanging) return super.publish(messages);
    this.hungCalls++;
    return new Promise<PublishReceipt>(() => {});
  }
}
