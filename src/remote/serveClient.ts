/**
 * The client side of the serve protocol 2.7 (protocols.md, Part A): talks to
 * `nix-store --serve --write` (real Nix's, or tsnix-store's) on another machine through ssh,
 * as Nix's `ssh://` store does. `ssh://localhost` runs the command through `bash -c` without
 * ssh, as Nix does too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { WireReader, WireWriter } from '../format/wire.js';
import { Hash } from '../format/hash.js';
import { writeBasicDerivation } from '../format/basicDerivation.js';
import type { Derivation } from '../format/derivation/index.js';
import { SERVE_MAGIC_1, SERVE_MAGIC_2, SERVE_PROTOCOL_VERSION } from './serveProtocol.js';

/** A remote that cannot be reached, or that broke the protocol. */
export class ServeClientError extends Error {
  override name = 'ServeClientError';
}

/** What QueryPathInfos tells of a path. */
export interface RemotePathInfo {
  path: string;
  deriver: string | undefined;
  references: string[];
  narSize: number;
  narHash: Hash;
  ca: string | undefined;
  sigs: string[];
}

export interface RemoteBuildOptions {
  maxSilentTime: number;
  buildTimeout: number;
  maxLogSize: number;
  keepFailed: boolean;
}

export interface RemoteBuildResult {
  /** A BuildResult status: 0 built, 2 valid already; 3 and up a failure. */
  status: number;
  errorMsg: string;
  timesBuilt: number;
}

export interface SshStoreUri {
  /** `[user@]host`. */
  host: string;
  remoteProgram: string;
  remoteStore: string | undefined;
  sshKey: string | undefined;
}

/** `ssh://[user@]host[?remote-program=…&remote-store=…&ssh-key=…]`. */
export function parseSshStoreUri(uri: string): SshStoreUri {
  const match = /^ssh:\/\/([^/?]+)(?:\?(.*))?$/.exec(uri);
  if (!match) throw new ServeClientError(`'${uri}' is not an ssh:// store URI`);
  const params = new URLSearchParams(match[2] ?? '');
  return {
    host: match[1]!,
    remoteProgram: params.get('remote-program') ?? 'nix-store',
    remoteStore: params.get('remote-store') ?? undefined,
    sshKey: params.get('ssh-key') ?? undefined,
  };
}

/** Quotes `word` for the remote shell. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** ssh's options for a machine: NIX_SSHOPTS, its key, no X11 or agent forwarding. */
export function sshArguments(uri: SshStoreUri, env: NodeJS.ProcessEnv): string[] {
  if (uri.host.startsWith('-')) throw new ServeClientError(`'${uri.host}' is not a host name`);
  const sshOptions = (env['NIX_SSHOPTS'] ?? '').split(/\s+/).filter((o) => o !== '');
  return [...sshOptions, ...(uri.sshKey ? ['-i', uri.sshKey] : []), '-x', '-a'];
}

/**
 * The command that runs the remote's `--serve --write`: through ssh (on the shared
 * connection of `controlSocket`, when there is one), or bash for `localhost`.
 */
export function serveCommand(uri: SshStoreUri, env: NodeJS.ProcessEnv = process.env, controlSocket?: string): string[] {
  // As Nix: remote-program goes in as written (it may carry arguments of its own).
  const remote = [uri.remoteProgram, ...['--serve', '--write', ...(uri.remoteStore ? ['--store', uri.remoteStore] : [])].map(shellQuote)].join(' ');
  if (uri.host === 'localhost') return ['bash', '-c', remote];
  const shared = controlSocket ? ['-S', controlSocket, '-o', 'ControlMaster=no'] : [];
  return ['ssh', ...sshArguments(uri, env), ...shared, uri.host, '--', remote];
}

export class ServeClient {
  readonly reader: WireReader;
  private stderrTail = '';
  /** The remote command has ended (or never started). */
  private gone = false;
  /** Where the lines the remote writes on stderr go (a build's log), besides the tail kept for errors. */
  onStderrLine: ((line: string) => void) | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly uri: string,
  ) {
    this.reader = new WireReader(child.stdout!, `the serve protocol from '${uri}'`);
    let pending = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.stderrTail = (this.stderrTail + text).slice(-4000);
      if (!this.onStderrLine) return;
      const parts = (pending + text).split('\n');
      pending = parts.pop()!;
      for (const line of parts) this.onStderrLine(line);
    });
    child.stdin!.on('error', () => {
      // The remote went away: the next read says so, with its messages.
    });
    child.on('error', (error) => {
      // Not started at all (no ssh, no bash): said as the remote's last words.
      this.stderrTail += `\n${error.message}`;
      this.gone = true;
    });
    child.on('close', () => {
      this.gone = true;
    });
  }

  /** Starts the remote's `--serve --write` and shakes hands. */
  static async open(uri: string, env: NodeJS.ProcessEnv = process.env, controlSocket?: string): Promise<ServeClient> {
    const [command, ...args] = serveCommand(parseSshStoreUri(uri), env, controlSocket);
    const child = spawn(command!, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    const client = new ServeClient(child, uri);
    try {
      await client.call(new WireWriter().u64(SERVE_MAGIC_1).u64(SERVE_PROTOCOL_VERSION).toBuffer(), async () => {
        if ((await client.reader.readU64()) !== SERVE_MAGIC_2) throw new ServeClientError(`'${uri}' does not speak the serve protocol`);
        const version = await client.reader.readU64();
        if (version >> 8 !== SERVE_PROTOCOL_VERSION >> 8 || (version & 0xff) < 6) {
          throw new ServeClientError(`'${uri}' speaks serve protocol ${version >> 8}.${version & 0xff}, not 2.6 or later`);
        }
      });
    } catch (e) {
      await client.close();
      throw e;
    }
    return client;
  }

  /** Writes `request`, then reads the answer with `read`; a failure names the remote and what it said. */
  async call<T>(request: Buffer | readonly Buffer[], read: () => Promise<T>): Promise<T> {
    for (const part of Array.isArray(request) ? request : [request]) this.write(part as Buffer);
    try {
      return await read();
    } catch (e) {
      if (e instanceof ServeClientError) throw e;
      // What the remote said on its way out comes after its stdout ended: wait for it, briefly.
      await this.exited(2000);
      const said = this.lastWords();
      throw new ServeClientError(`the connection to '${this.uri}' failed${said ? `: ${said}` : `: ${(e as Error).message}`}`);
    }
  }

  /** Writes bytes to the remote, waiting while its pipe is full. */
  async send(bytes: Buffer): Promise<void> {
    if (this.gone) throw await this.ended();
    const stdin = this.child.stdin!;
    if (stdin.write(bytes)) return;
    // Drained, or the remote gone (then no drain comes): whichever is first.
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error): void => {
        stdin.off('drain', onDrain);
        stdin.off('close', onClose);
        this.child.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = (): void => done();
      const onClose = (): void => void this.ended().then(done);
      stdin.once('drain', onDrain);
      stdin.once('close', onClose);
      this.child.once('close', onClose);
    });
  }

  /**
   * The error for a remote that went away, naming what it said last. Its stdin can close
   * before its stderr has been read to the end: wait for that, briefly, as call() does.
   */
  private async ended(): Promise<ServeClientError> {
    await this.exited(2000);
    return new ServeClientError(`the connection to '${this.uri}' failed: ${this.lastWords() ?? 'the remote command ended'}`);
  }

  /** The last line the remote wrote on stderr, if any. */
  private lastWords(): string | undefined {
    return this.stderrTail.trim().split('\n').filter((l) => l !== '').pop();
  }

  private write(bytes: Buffer): void {
    this.child.stdin!.write(bytes);
  }

  async queryValidPaths(paths: readonly string[], lock = false, substitute = false): Promise<Set<string>> {
    const request = new WireWriter().u64(1).u64(lock ? 1 : 0).u64(substitute ? 1 : 0).strings([...paths]).toBuffer();
    return this.call(request, async () => new Set(await this.reader.readStrings(1 << 22, 4096)));
  }

  async queryPathInfos(paths: readonly string[]): Promise<Map<string, RemotePathInfo>> {
    return this.call(new WireWriter().u64(2).strings([...paths]).toBuffer(), async () => {
      const infos = new Map<string, RemotePathInfo>();
      for (;;) {
        const path = await this.reader.readString(4096);
        if (path === '') return infos;
        const deriver = await this.reader.readString(4096);
        const references = await this.reader.readStrings(1 << 20, 4096);
        await this.reader.readU64(); // download size
        const narSize = await this.reader.readU64();
        const narHash = Hash.parse(await this.reader.readString(256), 'sha256');
        const ca = await this.reader.readString(4096);
        const sigs = await this.reader.readStrings(1024, 4096);
        infos.set(path, { path, deriver: deriver || undefined, references, narSize, narHash, ca: ca || undefined, sigs });
      }
    });
  }

  async queryClosure(paths: readonly string[], includeOutputs = false): Promise<string[]> {
    return this.call(new WireWriter().u64(7).u64(includeOutputs ? 1 : 0).strings([...paths]).toBuffer(), () => this.reader.readStrings(1 << 22, 4096));
  }

  /** Asks for `path`'s NAR; `read` must read exactly the NAR from `this.reader` (it has no length). */
  async dumpStorePath<T>(path: string, read: (reader: WireReader) => Promise<T>): Promise<T> {
    return this.call(new WireWriter().u64(3).string(path).toBuffer(), () => read(this.reader));
  }

  /** Sends a path: its info, then its NAR (`narSize` bytes, from `nar`). */
  async addToStoreNar(info: RemotePathInfo, nar: AsyncIterable<Buffer>): Promise<void> {
    const head = new WireWriter().u64(9).string(info.path).string(info.deriver ?? '').string(info.narHash.toBase16()).strings([...info.references].sort());
    head.u64(0).u64(info.narSize).u64(0).strings([...info.sigs].sort()).string(info.ca ?? '');
    await this.send(head.toBuffer());
    let sent = 0;
    for await (const chunk of nar) {
      sent += chunk.length;
      await this.send(chunk);
    }
    if (sent !== info.narSize) throw new ServeClientError(`the NAR of '${info.path}' changed while it was sent (${sent} bytes, not ${info.narSize})`);
    await this.call([], async () => {
      if ((await this.reader.readU64()) !== 1) throw new ServeClientError(`'${this.uri}' did not take '${info.path}'`);
    });
  }

  /** Resolves when the remote command has exited and its output is read, or after `ms`. */
  private async exited(ms: number): Promise<void> {
    // 'close', not the exit: only then is stderr read to the end.
    if (this.gone) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((resolve) => this.child.once('close', () => resolve())), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  /**
   * Builds a derivation given whole (its inputs must be there already), with the build
   * options nix sends; the remote's log arrives on stderr meanwhile.
   */
  async buildDerivation(drvPath: string, drv: Derivation, options: RemoteBuildOptions): Promise<RemoteBuildResult> {
    const request = new WireWriter().u64(8).string(drvPath);
    writeBasicDerivation(request, drv);
    // build-repeat 0 and enforce-determinism off: nix 2.8 sends these too.
    request.u64(options.maxSilentTime).u64(options.buildTimeout).u64(options.maxLogSize).u64(0).u64(0).u64(options.keepFailed ? 1 : 0);
    return this.call(request.toBuffer(), async () => {
      const status = await this.reader.readU64();
      const errorMsg = await this.reader.readString(1 << 20);
      const timesBuilt = await this.reader.readU64();
      await this.reader.readU64(); // isNonDeterministic
      await this.reader.readU64(); // startTime
      await this.reader.readU64(); // stopTime
      const realisations = await this.reader.readU64();
      for (let i = 0; i < realisations; i++) {
        await this.reader.readString(4096);
        await this.reader.readString(1 << 16);
      }
      return { status, errorMsg, timesBuilt };
    });
  }

  async close(): Promise<void> {
    if (this.gone || this.child.exitCode !== null || this.child.signalCode !== null) return;
    // The process's exit, not its pipes' close: a session on a shared ssh connection hands
    // its pipes to the master, which may keep them open after the session is gone.
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    this.child.stdout!.destroy();
    this.child.stderr!.destroy();
  }
}
