/**
 * A chroot store for build tests: a static busybox added as a source path, and a way to
 * write derivations whose builder is `busybox sh -c SCRIPT` with the derivation API.
 */
import { chmodSync, copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { derivation, writeDerivations, type DerivationHandle, type DerivationInput } from '../../src/build/derivationApi.js';
import { addPathToStore } from '../../src/store/addToStore.js';
import { LocalStore } from '../../src/store/localStore.js';
import { Settings } from '../../src/store/settings.js';
import { tempDir, tsnixStore, type RunResult } from './cli.js';

export const BUSYBOX = '/bin/busybox';

export interface BuildStoreOptions {
  /**
   * Keep the store at its logical location (`local?store=ROOT/store&…`) instead of a chroot
   * store under ROOT/nix/store: builds without a sandbox need that.
   */
  inPlace?: boolean;
}

export class BuildStore {
  private constructor(
    readonly root: string,
    readonly busybox: string,
    private readonly location: { root?: string; storeDir?: string; stateDir?: string; logDir?: string },
  ) {}

  get storeDir(): string {
    return this.location.storeDir ?? '/nix/store';
  }

  /** What `--store` says to reach this store. */
  get storeArg(): string {
    const l = this.location;
    return l.storeDir ? `local?store=${l.storeDir}&state=${l.stateDir}&log=${l.logDir}` : this.root;
  }

  static async create(options: BuildStoreOptions = {}): Promise<BuildStore> {
    const root = tempDir('tsnix-build-');
    // Build users must be able to reach a store that is not chrooted.
    chmodSync(root, 0o755);
    const location = options.inPlace ? { storeDir: join(root, 'store'), stateDir: join(root, 'var/nix'), logDir: join(root, 'var/log/nix') } : { root };
    const store = await LocalStore.open({ ...location, settings: new Settings() });
    try {
      const source = join(tempDir(), 'busybox-static');
      mkdirSync(join(source, 'bin'), { recursive: true });
      copyFileSync(BUSYBOX, join(source, 'bin/busybox'));
      chmodSync(join(source, 'bin/busybox'), 0o555);
      const busybox = await addPathToStore(store, source, { method: 'recursive', algo: 'sha256' });
      return new BuildStore(root, busybox, location);
    } finally {
      await store.close();
    }
  }

  /** A derivation running `busybox sh -c script`; `$out` and the inputs' paths are in the script. */
  drv(name: string, script: string, inputs: DerivationInput[] = [], env: Record<string, string> = {}, more: Partial<Parameters<typeof derivation>[0]> = {}): DerivationHandle {
    return derivation({ name, builder: `${this.busybox}/bin/busybox`, args: ['sh', '-c', script], inputs: [this.busybox, ...inputs], env, ...more }, this.storeDir);
  }

  /**
   * The wide shape, written to the store: 500 leaves writing `<prefix> <i>`, and a top that
   * concatenates them (so its output says whether every leaf was built right).
   */
  async wide(prefix: string): Promise<{ leaves: DerivationHandle[]; top: DerivationHandle; expected: string }> {
    const leaves = Array.from({ length: 500 }, (_, i) => this.drv(`${prefix}${i}`, `echo ${prefix} ${i} > $out`));
    const top = this.drv(`${prefix}-top`, `cat ${leaves.map((l) => l.out).join(' ')} > $out`, leaves);
    await this.write([top]);
    return { leaves, top, expected: leaves.map((_, i) => `${prefix} ${i}\n`).join('') };
  }

  async write(handles: DerivationHandle[]): Promise<void> {
    const store = await LocalStore.open({ ...this.location, settings: new Settings() });
    try {
      await writeDerivations(store, handles);
    } finally {
      await store.close();
    }
  }

  /** `tsnix-store --store ROOT ARGS…` */
  run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    return tsnixStore(['--store', this.storeArg, ...args], { env });
  }

  /** Where a store path is on this machine. */
  real(storePath: string): string {
    return this.location.storeDir ? storePath : join(this.root, storePath);
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
