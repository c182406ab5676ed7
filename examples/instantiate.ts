/**
 * `node dist/examples/instantiate.js [--store ROOT] [--busybox FILE]`: adds a static busybox
 * and the example graph's `.drv` files to the store, then prints the top-level `.drv` paths,
 * one per line, ready for `xargs tsnix-store --store ROOT -r`.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeDerivations } from '../src/build/derivationApi.js';
import { addPathToStore } from '../src/store/addToStore.js';
import { LocalStore } from '../src/store/localStore.js';
import { Settings } from '../src/store/settings.js';
import { exampleGraph } from './graph.js';

/** Store path name of the busybox directory. */
const BUSYBOX_NAME = 'busybox-static';

class UsageError extends Error {}

function parseArguments(argv: string[]): { root: string; busybox: string } {
  let root = '/';
  let busybox = '/bin/busybox';
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if ((flag === '--store' || flag === '--busybox') && value !== undefined) {
      if (flag === '--store') root = resolve(value);
      else busybox = value;
      i++;
    } else {
      throw new UsageError(`unexpected argument '${flag}'; usage: instantiate.js [--store ROOT] [--busybox FILE]`);
    }
  }
  return { root, busybox };
}

/** A directory holding `bin/busybox`, added as a source path (like `nix-store --add DIR`). */
async function addBusybox(store: LocalStore, busybox: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tsnix-example-'));
  try {
    const source = join(dir, BUSYBOX_NAME);
    mkdirSync(join(source, 'bin'), { recursive: true });
    copyFileSync(busybox, join(source, 'bin', 'busybox'));
    chmodSync(join(source, 'bin', 'busybox'), 0o555);
    return await addPathToStore(store, source, { method: 'recursive', algo: 'sha256' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { root, busybox } = parseArguments(process.argv.slice(2));
  const store = await LocalStore.open({ root, settings: new Settings() });
  try {
    const busyboxPath = await addBusybox(store, busybox);
    const graph = exampleGraph(busyboxPath, store.storeDir);
    await writeDerivations(store, graph.top);
    process.stdout.write(graph.top.map((h) => `${h.drvPath}\n`).join(''));
  } finally {
    await store.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
