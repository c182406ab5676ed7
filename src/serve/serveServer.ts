/**
 * `tsnix-store --serve [--write]`: the serve protocol 2.7 (protocols.md, Part A) on stdin and
 * stdout, what real Nix runs on the other end of `ssh://host` (a remote store, or a remote
 * builder with `--builders ssh://host`). No framing, no log channel: each command's answer
 * is written as it is, build logs go to stderr, and an error ends the session (the message
 * on stderr), as nix-store --serve does.
 */
import type { Writable } from 'node:stream';
import { buildSettingsFrom } from '../build/buildSettings.js';
import { lineEvents } from '../build/events.js';
import { Scheduler } from '../build/scheduler.js';
import { readBasicDerivation } from '../format/basicDerivation.js';
import { WireReader, WireWriter } from '../format/wire.js';
import { readPathInfo } from '../daemon/addOperations.js';
import { unpackChecked } from '../store/importChecks.js';
import { SERVE_MAGIC_1, SERVE_MAGIC_2, SERVE_PROTOCOL_VERSION } from '../remote/serveProtocol.js';
import { givenDerivationResult } from '../daemon/buildResult.js';
import { checkDerivationPaths, checkStorePath, derivedPathTarget } from '../daemon/readArgs.js';
import { closureWithOutputs } from '../store/closureWithOutputs.js';
import { commitPaths } from '../store/commitPath.js';
import { exportPaths } from '../store/exportPaths.js';
import { importPaths } from '../store/importPaths.js';
import type { LocalStore } from '../store/localStore.js';
import { dumpPath } from '../store/nar/index.js';
import { queryPathInfo, queryValidPaths } from '../store/queryPathInfo.js';
import type { Settings } from '../store/settings.js';
import { openSubstituters } from '../substituters/openSubstituters.js';
import type { RecursiveStoreServer } from '../build/context.js';


/** What ends a session with a message: a malformed request, or a command not allowed. */
export class ServeError extends Error {
  override name = 'ServeError';
}

export interface ServeOptions {
  store: LocalStore;
  /** `--write`: imports, builds and temp roots are allowed. */
  write: boolean;
  input: AsyncIterable<Buffer>;
  output: Writable;
  /** Build logs and messages (stderr). */
  log(line: string): void;
  recursive?: RecursiveStoreServer;
}

const MAX_PATHS = 1 << 20;
const MAX_PATH = 4096;

class ServeSession {
  private readonly reader: WireReader;
  private readonly store: LocalStore;
  private clientVersion = 0;

  constructor(private readonly options: ServeOptions) {
    this.reader = new WireReader(options.input, 'serve protocol input');
    this.store = options.store;
  }

  private async send(bytes: Buffer): Promise<void> {
    const { output } = this.options;
    if (output.write(bytes)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null): void => {
        output.off('drain', onDrain);
        output.off('error', done);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = (): void => done();
      output.once('drain', onDrain);
      output.once('error', done);
    });
  }

  private async readPaths(): Promise<string[]> {
    const paths = await this.reader.readStrings(MAX_PATHS, MAX_PATH);
    return paths.map((p) => checkStorePath(p, this.store.storeDir));
  }

  private requireWrite(what: string): void {
    if (!this.options.write) throw new ServeError(`${what} is not allowed`);
  }

  /** The build options the client sends after BuildPaths and BuildDerivation, over ours. */
  private async readBuildSettings(): Promise<Settings> {
    const minor = this.clientVersion & 0xff;
    const maxSilentTime = await this.reader.readU64();
    const buildTimeout = await this.reader.readU64();
    const settings = this.store.settings.clone();
    settings.set('max-silent-time', String(maxSilentTime));
    settings.set('timeout', String(buildTimeout));
    if (minor >= 2) settings.set('max-build-log-size', String(await this.reader.readU64()));
    if (minor >= 3) {
      await this.reader.readU64(); // build-repeat: not supported, builds run once
      await this.reader.readU64(); // enforce-determinism
    }
    if (minor >= 7) settings.set('keep-failed', (await this.reader.readU64()) !== 0 ? 'true' : 'false');
    return settings;
  }

  private scheduler(settings: Settings, substituters: ReturnType<typeof openSubstituters>): Scheduler {
    return new Scheduler(this.store, {
      settings: buildSettingsFrom(settings),
      events: lineEvents(this.options.log),
      substituters,
      ...(this.options.recursive ? { recursive: this.options.recursive } : {}),
    });
  }

  async run(): Promise<void> {
    const magic = await this.reader.readU64();
    if (magic !== SERVE_MAGIC_1) throw new ServeError('protocol mismatch');
    this.clientVersion = await this.reader.readU64();
    await this.send(new WireWriter().u64(SERVE_MAGIC_2).u64(SERVE_PROTOCOL_VERSION).toBuffer());
    // Path info records and build results are sent in their 2.4+ and 2.6+ forms only.
    if (this.clientVersion >> 8 !== SERVE_PROTOCOL_VERSION >> 8 || (this.clientVersion & 0xff) < 6) {
      throw new ServeError(`unsupported serve protocol client version ${this.clientVersion >> 8}.${this.clientVersion & 0xff} (2.6 or later is needed)`);
    }
    while (!(await this.reader.atEnd())) {
      const command = await this.reader.readU64();
      await this.command(command);
    }
  }

  private async command(command: number): Promise<void> {
    const { store } = this;
    switch (command) {
      case 1: {
        // QueryValidPaths: `lock` takes temp roots, `substitute` fetches what is missing first.
        const lock = (await this.reader.readU64()) !== 0;
        const substitute = (await this.reader.readU64()) !== 0;
        const paths = await this.readPaths();
        if (lock && this.options.write) for (const path of paths) await store.addTempRoot(path);
        if (substitute && this.options.write) await this.substitute(paths.filter((p) => !queryValidPaths(store.db, [p]).size));
        return this.send(new WireWriter().strings([...queryValidPaths(store.db, paths)].sort()).toBuffer());
      }
      case 2: {
        // QueryPathInfos: a record for each valid path, then "".
        const paths = await this.readPaths();
        const w = new WireWriter();
        for (const path of paths) {
          const info = queryPathInfo(store.db, path);
          if (!info) continue;
          w.string(info.path).string(info.deriver ?? '').strings([...info.references].sort());
          w.u64(info.narSize).u64(info.narSize).string(info.narHash.format('nix32', true)).string(info.ca ?? '').strings([...info.sigs].sort());
        }
        return this.send(w.string('').toBuffer());
      }
      case 3: {
        // DumpStorePath: the NAR, nothing around it.
        const path = checkStorePath(await this.reader.readString(MAX_PATH), store.storeDir);
        if (queryValidPaths(store.db, [path]).size === 0) throw new ServeError(`path '${path}' is not valid`);
        for await (const chunk of dumpPath(store.layout.toReal(path), { useCaseHack: store.useCaseHack })) await this.send(chunk);
        return;
      }
      case 4: {
        // ImportPaths: an export stream, not signature-checked (the client has a shell here).
        this.requireWrite('importing paths');
        await importPaths(store, this.reader);
        return this.send(new WireWriter().u64(1).toBuffer());
      }
      case 5: {
        await this.reader.readU64(); // the obsolete "sign" flag
        const paths = await this.readPaths();
        for await (const chunk of exportPaths(store, paths)) await this.send(chunk);
        return;
      }
      case 6:
        this.requireWrite('building paths');
        return this.buildPaths();
      case 7: {
        const includeOutputs = (await this.reader.readU64()) !== 0;
        const paths = await this.readPaths();
        const valid = queryValidPaths(store.db, paths);
        const invalid = paths.find((p) => !valid.has(p));
        if (invalid !== undefined) throw new ServeError(`path '${invalid}' is not valid`);
        return this.send(new WireWriter().strings([...closureWithOutputs(store.db, paths, includeOutputs)].sort()).toBuffer());
      }
      case 8:
        this.requireWrite('building paths');
        return this.buildDerivation();
      case 9:
        this.requireWrite('importing paths');
        return this.addToStoreNar();
      default:
        throw new ServeError(`unknown serve command ${command}`);
    }
  }

  /** Fetches what substituters have of `paths`; what cannot be had stays missing (the answer says so). */
  private async substitute(paths: string[]): Promise<void> {
    if (paths.length === 0) return;
    const substituters = openSubstituters(this.store.settings, this.store.storeDir);
    try {
      if (substituters.length === 0) return;
      await this.scheduler(this.store.settings, substituters).realise(paths.map((path) => ({ kind: 'path' as const, path })));
    } finally {
      await Promise.all(substituters.map((s) => s.close()));
    }
  }

  private async buildPaths(): Promise<void> {
    const texts = await this.reader.readStrings(MAX_PATHS, 8192);
    const targets = texts.map((text) => derivedPathTarget(text, this.store.storeDir));
    const settings = await this.readBuildSettings();
    // As nix-store --serve: what is missing is built, not fetched.
    const result = await this.scheduler(settings, []).realise(targets);
    const failure = result.targetFailures.find((f) => f !== undefined);
    if (result.exitStatus === 0 && !failure) return this.send(new WireWriter().u64(0).toBuffer());
    return this.send(new WireWriter().u64(result.exitStatus || 1).string(failure?.message ?? result.failures[0]?.message ?? 'build failed').toBuffer());
  }

  private async buildDerivation(): Promise<void> {
    const drvPath = checkStorePath(await this.reader.readString(MAX_PATH), this.store.storeDir);
    const drv = await readBasicDerivation(this.reader);
    checkDerivationPaths(drv, this.store.storeDir);
    const settings = await this.readBuildSettings();
    // Its inputs are here already (the client copied them): nothing is fetched for it.
    const reply = await givenDerivationResult(drvPath, drv, this.store.storeDir, () => this.scheduler(settings, []).realiseGiven(drvPath, drv));
    return this.send(reply);
  }

  private async addToStoreNar(): Promise<void> {
    const info = await readPathInfo(this.reader, this.store);
    if (info.narSize === 0) throw new ServeError(`path info of '${info.path}' has a NAR size of 0`);
    // Exactly narSize bytes of NAR follow: read as a stream of their own, to the last byte.
    const nar = new WireReader(this.reader.readChunks(info.narSize), `the NAR of '${info.path}'`);
    const temp = await unpackChecked(this.store, nar, info);
    try {
      if (!(await nar.atEnd())) throw new ServeError(`the NAR of '${info.path}' is shorter than its size ${info.narSize}`);
    } catch (e) {
      temp.remove();
      throw e;
    }
    await commitPaths(this.store, [{ temp, info }]);
    return this.send(new WireWriter().u64(1).toBuffer());
  }
}

/** Serves one session until the client closes its end. */
export async function serveStore(options: ServeOptions): Promise<void> {
  await new ServeSession(options).run();
}
