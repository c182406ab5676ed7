/**
 * One client connection of the worker protocol (protocols.md, Part B): the handshake, then
 * operations one at a time. An operation whose arguments cannot be read (malformed, or an
 * operation tsnix does not serve) gets an Error and the connection is closed, as nix-daemon
 * does; one that fails while working gets an Error and the connection goes on.
 */
import type { Writable } from 'node:stream';
import { WireFormatError } from '../format/errors.js';
import { WireReader, WireWriter } from '../format/wire.js';
import type { SharedBuilds } from '../build/sharedBuilds.js';
import type { PathRestriction } from './restriction.js';
import type { RemoteBuilders } from '../build/remote/remoteBuilders.js';
import type { LocalStore } from '../store/localStore.js';
import type { Settings } from '../store/settings.js';
import { OPERATIONS, type Operation } from './operations.js';
import { encodeError, encodeLogLine, ProtocolError, MIN_CLIENT_VERSION, NIX_VERSION, OPERATION_NAMES, PROTOCOL_VERSION, STDERR_LAST, WORKER_MAGIC_1, WORKER_MAGIC_2 } from './protocol.js';

export interface ConnectionContext {
  store: LocalStore;
  /** May do what only trusted users may (repair, unsigned imports, any option). */
  trusted: boolean;
  /** The daemon's builds, shared by all connections. */
  builds: SharedBuilds;
  /** The machines of the daemon's `builders`. */
  remote?: RemoteBuilders;
  /** Set for a recursive build's store: only these paths are seen, only some operations served. */
  restriction?: PathRestriction;
  /** For the daemon's own log, prefixed with the connection. */
  log: (message: string) => void;
}

/**
 * What a recursive build's store serves: queries (of what it may see), adding paths, building,
 * options. No roots, collection, signatures, substitution queries or imports of another kind.
 */
const RECURSIVE_OPERATIONS = new Set([1, 7, 9, 10, 11, 12, 13, 19, 26, 31, 38, 39, 40, 41, 44, 46]);

/** Bytes one request may take to read (its arguments, not a framed stream's content). */
const REQUEST_BUDGET = 64 << 20;
/** Log lines waiting for a client that does not read are dropped beyond this. */
const LOG_BUFFER_LIMIT = 16 << 20;

export class DaemonConnection {
  readonly reader: WireReader;
  /** The daemon's settings with the client's options (SetOptions) over them. */
  settings: Settings;
  /** Where the current request began, for its budget. */
  private requestStart = 0;
  /** Whether the current operation has begun its reply (an error after that cannot be framed). */
  private replied = false;
  private droppedLines = 0;

  constructor(
    input: AsyncIterable<Buffer>,
    private readonly output: Writable,
    readonly ctx: ConnectionContext,
  ) {
    this.reader = new WireReader(input, 'client connection');
    this.settings = ctx.store.settings;
  }

  /**
   * Refuses a request whose arguments run past the budget: a client must not make the daemon,
   * which serves everyone, hold gigabytes of strings.
   */
  checkBudget(): void {
    if (this.reader.position - this.requestStart > REQUEST_BUDGET) {
      throw new ProtocolError(`a request of more than ${REQUEST_BUDGET} bytes is more than tsnix-daemon takes`);
    }
  }

  /** Whether the client may see `path` (not so outside a recursive build's closure). */
  visible(path: string): boolean {
    return this.ctx.restriction?.allows(path) ?? true;
  }

  /** Calls `then` when the client hangs up; returns how to stop listening. */
  onHangUp(then: () => void): () => void {
    this.output.once('close', then);
    return () => this.output.off('close', then);
  }

  private hungUp(): boolean {
    return this.output.destroyed || this.output.writableEnded;
  }

  /** Writes `data`, waiting for the client to take it when its buffer is full. */
  async send(data: Buffer): Promise<void> {
    if (this.hungUp()) throw new ProtocolError('the client hung up');
    if (this.output.write(data)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error): void => {
        this.output.off('drain', onDrain);
        this.output.off('error', onError);
        this.output.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = (): void => done();
      const onError = (e: Error): void => done(e);
      // A socket destroyed meanwhile emits neither drain nor (always) error.
      const onClose = (): void => done(new ProtocolError('the client hung up'));
      this.output.once('drain', onDrain);
      this.output.once('error', onError);
      this.output.once('close', onClose);
    });
  }

  /**
   * Writes `data` without waiting: log lines from inside a build, which must keep their
   * order but are small; a client that stops reading just makes the socket buffer them.
   */
  sendNow(data: Buffer): void {
    if (this.hungUp()) return;
    // A client that does not read (while its build prints gigabytes) must not fill the
    // daemon's memory: past the limit, lines are dropped, and counted.
    if (this.output.writableLength > LOG_BUFFER_LIMIT) {
      this.droppedLines++;
      return;
    }
    if (this.droppedLines > 0) {
      this.output.write(encodeLogLine(`(tsnix-daemon: ${this.droppedLines} log lines dropped: the client did not read them)`));
      this.droppedLines = 0;
    }
    this.output.write(data);
  }

  /** Success: STDERR_LAST, then the operation's reply. */
  async reply(data?: Buffer): Promise<void> {
    this.replied = true;
    const last = new WireWriter().u64(STDERR_LAST).toBuffer();
    await this.send(data ? Buffer.concat([last, data]) : last);
  }

  private async handshake(): Promise<void> {
    const magic = await this.reader.readU64();
    if (magic !== WORKER_MAGIC_1) throw new ProtocolError('protocol mismatch');
    await this.send(new WireWriter().u64(WORKER_MAGIC_2).u64(PROTOCOL_VERSION).toBuffer());
    const clientVersion = await this.reader.readU64();
    if (clientVersion < MIN_CLIENT_VERSION) throw new ProtocolError('the Nix client version is too old');
    // The layouts served are those of 1.34 (what Nix 2.8 sends); an older client would be misread.
    if (clientVersion >> 8 !== PROTOCOL_VERSION >> 8 || (clientVersion & 0xff) < (PROTOCOL_VERSION & 0xff)) {
      throw new ProtocolError(`tsnix-daemon speaks worker protocol 1.${PROTOCOL_VERSION & 0xff}; this client speaks ${clientVersion >> 8}.${clientVersion & 0xff} (use Nix 2.8 or later)`);
    }
    // Obsolete CPU affinity (with a CPU number if set) and "reserve space" flags.
    if ((await this.reader.readU64()) !== 0) await this.reader.readU64();
    await this.reader.readU64();
    await this.send(new WireWriter().string(NIX_VERSION).toBuffer());
    await this.reply();
  }

  /** Serves until the client hangs up or a request cannot be read. */
  async serve(): Promise<void> {
    try {
      await this.handshake();
    } catch (e) {
      await this.failAndClose(e);
      return;
    }
    for (;;) {
      if (await this.reader.atEnd()) return;
      let opcode: number;
      let operation: Operation | undefined;
      let run: () => Promise<void>;
      try {
        this.requestStart = this.reader.position;
        this.replied = false;
        opcode = await this.reader.readU64();
        operation = OPERATIONS.get(opcode);
        const name = OPERATION_NAMES[opcode];
        if (operation && this.ctx.restriction && !RECURSIVE_OPERATIONS.has(opcode)) {
          throw new ProtocolError(`the operation ${name ?? opcode} is not allowed in a recursive build`);
        }
        if (operation === undefined) {
          throw new ProtocolError(name ? `tsnix-daemon does not support the operation ${name} (${opcode}) yet` : `invalid operation ${opcode}`);
        }
        run = await operation(this);
      } catch (e) {
        await this.failAndClose(e);
        return;
      }
      try {
        await run();
      } catch (e) {
        if (this.replied) {
          // The reply had begun (a NAR half sent): an error frame now would be read as data.
          this.ctx.log(`closing: operation ${OPERATION_NAMES[opcode] ?? opcode} failed after its reply began: ${(e as Error).message}`);
          return;
        }
        if (e instanceof WireFormatError || e instanceof ProtocolError) {
          await this.failAndClose(e);
          return;
        }
        this.ctx.log(`operation ${OPERATION_NAMES[opcode] ?? opcode} failed: ${(e as Error).message}`);
        await this.send(encodeError((e as Error).message));
      }
    }
  }

  private async failAndClose(e: unknown): Promise<void> {
    const message = e instanceof Error ? e.message : String(e);
    this.ctx.log(`closing: ${message}`);
    try {
      await this.send(encodeError(message));
    } catch {
      // The client is gone: nothing to tell.
    }
  }
}
