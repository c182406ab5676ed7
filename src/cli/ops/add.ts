/** `--add` and `--add-fixed [--recursive] ALGO`. */
import { parseHashAlgo } from '../../format/hash.js';
import { poolSize } from '../../pool/pool.js';
import { addPathToStore } from '../../store/addToStore.js';
import type { LocalStore } from '../../store/localStore.js';
import { type ParsedArgs, UsageError } from '../args.js';
import { printLines } from '../output.js';

export async function opAdd(store: LocalStore, parsed: ParsedArgs): Promise<void> {
  let args = parsed.args;
  let method: 'flat' | 'recursive' = 'recursive';
  let algo = parseHashAlgo('sha256');
  if (parsed.operation === 'add-fixed') {
    if (args.length < 1) throw new UsageError('first argument must be hash algorithm');
    algo = parseHashAlgo(args[0]!);
    args = args.slice(1);
    method = parsed.recursive ? 'recursive' : 'flat';
  }
  // Several additions run at once (each on a pool thread); results print in argument order,
  // as nix-store prints them. The first error stops the command: nothing more is started,
  // and it returns only once the additions under way have settled.
  const ahead = poolSize();
  const running: Promise<string>[] = [];
  let next = 0;
  const startMore = (): void => {
    while (next < args.length && running.length < ahead) {
      const added = addPathToStore(store, args[next++]!, { method, algo });
      added.catch(() => undefined); // awaited below, in order
      running.push(added);
    }
  };
  startMore();
  try {
    while (running.length > 0) {
      printLines([await running[0]!]);
      running.shift();
      startMore();
    }
  } finally {
    await Promise.allSettled(running);
  }
}
