import type { ChildProcess } from 'node:child_process';

export const RELAYED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Catches SIGTERM and SIGINT for as long as it is open, so the applier always gets to clean
 * up, and hands them to the runtime once it runs. A signal that arrives before then is kept.
 * `translate` lets a stop request become the container's own stop signal.
 */
export class SignalRelay {
  readonly received: NodeJS.Signals[] = [];
  private target: ChildProcess | undefined;
  private readonly listeners = new Map<NodeJS.Signals, () => void>();

  constructor(
    private readonly translate: (signal: NodeJS.Signals) => NodeJS.Signals = (signal) => signal,
    private readonly onRelayed: (signal: NodeJS.Signals) => void = () => {},
  ) {
    for (const signal of RELAYED_SIGNALS) {
      const listener = () => {
        this.received.push(signal);
        if (this.target) this.relay(signal);
      };
      this.listeners.set(signal, listener);
      process.on(signal, listener);
    }
  }

  /** Starts relaying to the child, beginning with whatever arrived while there was none. */
  forwardTo(child: ChildProcess): void {
    this.target = child;
    for (const signal of this.received) this.relay(signal);
  }

  close(): void {
    for (const [signal, listener] of this.listeners) process.off(signal, listener);
    this.listeners.clear();
    this.target = undefined;
  }

  private relay(signal: NodeJS.Signals): void {
    const target = this.target;
    if (!target || target.exitCode !== null || target.signalCode !== null) return;
    target.kill(this.translate(signal));
    this.onRelayed(signal);
  }
}
