/**
 * The machines of `builders` and their slots: a build goes to the machine that fits it
 * (platform, features) with the most room for its speed; when all that fit are busy it waits
 * for one, as Nix's build hook postpones. Sessions (a remote `nix-store --serve --write`
 * each) are kept and reused across builds, up to a machine's max-jobs, all on one ssh
 * connection per machine. A machine whose connection fails is left alone for a while.
 */
import type { Derivation } from '../../format/derivation/index.js';
import { parseSshStoreUri, ServeClient, ServeClientError } from '../../remote/serveClient.js';
import { SshMaster } from '../../remote/sshMaster.js';
import { machineFits, type Machine } from './machines.js';

/** How long a machine that failed is left alone. */
const DOWN_MS = 60_000;

interface MachineState {
  machine: Machine;
  inUse: number;
  downUntil: number;
  idle: ServeClient[];
  /** Paths this machine has, as far as we know (sent to it, or built there). */
  holds: Set<string>;
  /** The ssh connection its sessions share. */
  master: SshMaster;
}

/** One build slot on one machine. */
export interface MachineLease {
  readonly machine: Machine;
  /** A connection to the machine's store (a kept one, or a new one). */
  client(): Promise<ServeClient>;
  /** Gives the slot back; the connection is kept for the next build only after a whole exchange (`clean`). */
  release(clean: boolean): void;
  /** The machine failed (its connection broke): it is left alone for a while. */
  markDown(): void;
  /** Notes paths the machine now has (copied there, or built there). */
  holds(paths: Iterable<string>): void;
}

export class RemoteBuilders {
  private readonly states: MachineState[];
  private wakers: (() => void)[] = [];
  /** After `close`, nothing new is started: a late start would outlive the run. */
  private closed = false;

  constructor(
    machines: readonly Machine[],
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.states = machines.map((machine) => ({ machine, inUse: 0, downUntil: 0, idle: [], holds: new Set<string>(), master: new SshMaster(parseSshStoreUri(this.uriOf(machine)), env) }));
  }

  private fitting(drv: Derivation, required: readonly string[]): MachineState[] {
    const now = Date.now();
    return this.states.filter((s) => s.downUntil <= now && machineFits(s.machine, drv.platform, required));
  }

  /** Whether some machine (not left alone) could build `drv`. */
  canBuild(drv: Derivation, required: readonly string[]): boolean {
    return this.fitting(drv, required).length > 0;
  }

  /**
   * A slot on the best machine for `drv`, waiting while all that fit are busy; undefined when
   * none fits. Best: the least loaded for its speed; between equals, the one that holds more
   * of `inputs` already (less to copy).
   */
  async lease(drv: Derivation, required: readonly string[], signal: AbortSignal, inputs: readonly string[] = []): Promise<MachineLease | undefined> {
    const held = (s: MachineState): number => inputs.reduce((n, p) => n + (s.holds.has(p) ? 1 : 0), 0);
    for (;;) {
      signal.throwIfAborted();
      const fitting = this.fitting(drv, required);
      if (fitting.length === 0) return undefined;
      const free = fitting
        .filter((s) => s.inUse < s.machine.maxJobs)
        .sort((a, b) => a.inUse / a.machine.speedFactor - b.inUse / b.machine.speedFactor || held(b) - held(a) || b.machine.speedFactor - a.machine.speedFactor);
      const best = free[0];
      if (best) return this.take(best);
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason as Error);
        signal.addEventListener('abort', onAbort, { once: true });
        this.wakers.push(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
  }

  private take(state: MachineState): MachineLease {
    state.inUse++;
    let client: ServeClient | undefined;
    let released = false;
    const done = (keep: boolean): void => {
      if (released) return;
      released = true;
      state.inUse--;
      if (client && keep) state.idle.push(client);
      else void client?.close();
      for (const wake of this.wakers.splice(0)) wake();
    };
    return {
      machine: state.machine,
      client: async () => {
        if (this.closed) throw new ServeClientError(`the connections to '${state.machine.uri}' are closed`);
        client ??= state.idle.pop() ?? (await ServeClient.open(this.uriOf(state.machine), this.env, await state.master.socket()));
        return client;
      },
      release: (clean) => done(clean),
      holds: (paths) => {
        for (const path of paths) state.holds.add(path);
      },
      markDown: () => {
        state.holds.clear();
        state.downUntil = Date.now() + DOWN_MS;
        for (const idle of state.idle.splice(0)) void idle.close();
        // A new connection when it is tried again.
        if (state.inUse <= 1) void state.master.close();
        done(false);
      },
    };
  }

  /** The machine's URI with its ssh key as the store parameter Nix's ssh store takes. */
  private uriOf(machine: Machine): string {
    if (!machine.sshKey || machine.uri.includes('ssh-key=')) return machine.uri;
    return `${machine.uri}${machine.uri.includes('?') ? '&' : '?'}ssh-key=${encodeURIComponent(machine.sshKey)}`;
  }

  /** Closes the kept connections. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.states.flatMap((s) => s.idle.splice(0).map((c) => c.close())));
    await Promise.all(this.states.map((s) => s.master.close()));
  }
}
