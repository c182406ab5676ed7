/**
 * Build events that can be held back and let through later, in order: goals that start while
 * the plan is still being worked out must not print "copying path …" above the listing of
 * what will be fetched, which nix-store prints first.
 */
import type { BuildEvents } from './events.js';

export class HeldEvents implements BuildEvents {
  private held: (() => void)[] | undefined;

  constructor(private readonly inner: BuildEvents) {}

  /** From now on events wait. */
  hold(): void {
    this.held ??= [];
  }

  /** Lets the waiting events through, in the order they came, and the next ones straight. */
  release(): void {
    const waiting = this.held ?? [];
    this.held = undefined;
    for (const event of waiting) event();
  }

  private pass(event: () => void): void {
    if (this.held) this.held.push(event);
    else event();
  }

  expect(builds: number, substitutions: number): void {
    this.pass(() => this.inner.expect(builds, substitutions));
  }
  buildStarted(drvPath: string, name: string, machine?: string): void {
    this.pass(() => this.inner.buildStarted(drvPath, name, machine));
  }
  logLine(drvPath: string, line: string): void {
    this.pass(() => this.inner.logLine(drvPath, line));
  }
  buildFinished(drvPath: string, succeeded: boolean): void {
    this.pass(() => this.inner.buildFinished(drvPath, succeeded));
  }
  substitutionStarted(path: string, from: string): void {
    this.pass(() => this.inner.substitutionStarted(path, from));
  }
  substitutionFinished(path: string, succeeded: boolean): void {
    this.pass(() => this.inner.substitutionFinished(path, succeeded));
  }
  /** Bytes of a path that arrive while held are added up: one event each path, not one a chunk. */
  private readonly heldBytes = new Map<string, number>();
  downloaded(path: string, bytes: number): void {
    if (!this.held) {
      this.inner.downloaded(path, bytes);
      return;
    }
    const before = this.heldBytes.get(path);
    this.heldBytes.set(path, (before ?? 0) + bytes);
    if (before === undefined) {
      this.held.push(() => {
        const total = this.heldBytes.get(path) ?? 0;
        this.heldBytes.delete(path);
        this.inner.downloaded(path, total);
      });
    }
  }
  message(text: string): void {
    this.pass(() => this.inner.message(text));
  }
}
