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

export class BuildStore {
  private constructor(
    readonly root: string,
    readonly busybox: string,
  ) {}

  static async create(): Promise<BuildStore> {
    const root = tempDir('tsnix-build-');
    const store = await LocalStore.open({ root, settings: new Settings() });
    try {
      const source = join(tempDir(), 'busybox-static');
      mkdirSync(join(source, 'bin'), { recursive: true });
      copyFileSync(BUSYBOX, join(source, 'bin/busybox'));
      chmodSync(join(source, 'bin/busybox'), 0o555);
      const busybox = await addPathToStore(store, source, { method: 'recursive', algo: 'sha256' });
      return new BuildStore(root, busybox);
    } finally {
      await store.close();
    }
  }

  /** A derivation running `busybox sh -c script`; `$out` and the inputs' paths are in the script. */
  drv(name: string, script: string, inputs: DerivationInput[] = [], env: Record<string, string> = {}, more: Partial<Parameters<typeof derivation>[0]> = {}): DerivationHandle {
    return derivation({ name, builder: `${this.busybox}/bin/busybox`, args: ['sh', '-c', script], inputs: [this.busybox, ...inputs], env, ...more });
  }

  async write(handles: DerivationHandle[]): Promise<void> {
    const store = await LocalStore.open({ root: this.root, settings: new Settings() });
    try {
      await writeDerivations(store, handles);
    } finally {
      await store.close();
    }
  }

  /** `tsnix-store --store ROOT ARGS…` */
  run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    return tsnixStore(['--store', this.root, ...args], { env });
  }

  real(storePath: string): string {
    return join(this.root, storePath);
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
