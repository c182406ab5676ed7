/**
 * `--serve [--write]`: the serve protocol on stdin and stdout, for real Nix on the other end
 * of `ssh://host?remote-program=tsnix-store` (see serve/serveServer.ts).
 */
import { serveStore } from '../../serve/serveServer.js';
import type { LocalStore } from '../../store/localStore.js';
import type { ParsedArgs } from '../args.js';
import { recursiveStore } from '../recursiveStore.js';

export async function opServe(store: LocalStore, parsed: ParsedArgs): Promise<number> {
  try {
    await serveStore({
      store,
      write: parsed.write,
      input: process.stdin,
      output: process.stdout,
      log: (line) => process.stderr.write(`${line}\n`),
      recursive: recursiveStore,
    });
  } finally {
    // An error ends the session, as nix-store --serve's does: the client sees the stream end
    // (its input still open would keep this process, and the client waiting, forever).
    process.stdin.destroy();
  }
  return 0;
}
