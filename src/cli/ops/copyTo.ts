/**
 * `--copy-to URI PATHS…`: the closures of PATHS written to a binary cache (`file://DIR` or
 * `http(s)://…`), as `nix copy --to URI` does. Store parameters as Nix's: `compression=`
 * (none, xz, zstd, bzip2, gzip, br; default xz), `compression-level=`, `secret-key=FILE`;
 * the keys of `secret-key-files` sign too. Prints nothing on success, like `nix copy`.
 * To `ssh://[user@]host` (store parameters `remote-program`, `remote-store`, `ssh-key`), the
 * closures go to that machine's store over the serve protocol.
 */
import { readFileSync } from 'node:fs';
import { parseSecretKey, type SecretKey } from '../../format/signing.js';
import type { LocalStore } from '../../store/localStore.js';
import { parseCompression } from '../../substituters/compression.js';
import { copyToCache } from '../../substituters/copyToCache.js';
import { openTransport } from '../../substituters/openSubstituters.js';
import { UsageError, type ParsedArgs } from '../args.js';
import { followLinksToStorePath } from '../followLinks.js';
import { copyFromRemote, copyToRemote } from '../../remote/copyPaths.js';
import { ServeClient } from '../../remote/serveClient.js';

function readSecretKeys(files: string[]): SecretKey[] {
  return files.map((file) => parseSecretKey(readFileSync(file, 'utf8'), file));
}

function parseLevel(text: string | null, uri: string): number | undefined {
  if (text === null) return undefined;
  if (!/^-?[0-9]+$/.test(text)) throw new UsageError(`store parameter 'compression-level' of '${uri}': '${text}' is not an integer`);
  return Number(text);
}

export async function opCopyTo(store: LocalStore, parsed: ParsedArgs): Promise<number> {
  const [uri, ...args] = parsed.args as [string, ...string[]];
  // Every argument is checked before the cache is touched, so a typo writes nothing.
  const paths = args.map((arg) => followLinksToStorePath(arg, store.storeDir));
  if (uri.startsWith('ssh://')) {
    // Another machine's store, through its `nix-store --serve --write`.
    const client = await ServeClient.open(uri);
    try {
      await copyToRemote(store, client, paths);
    } finally {
      await client.close();
    }
    return 0;
  }
  const { transport, params } = openTransport(uri, store.settings);
  try {
    const compression = parseCompression(params.get('compression') ?? 'xz', uri);
    const compressionLevel = parseLevel(params.get('compression-level'), uri);
    const keyFiles = [
      ...params.getAll('secret-key').filter((file) => file !== ''),
      ...store.settings.get('secret-key-files').split(/\s+/).filter((file) => file !== ''),
    ];
    await copyToCache(store, transport, paths, {
      compression,
      ...(compressionLevel !== undefined ? { compressionLevel } : {}),
      secretKeys: readSecretKeys(keyFiles),
    });
  } finally {
    await transport.close();
  }
  return 0;
}

/**
 * `--copy-from ssh://HOST PATHS…`: the closures of PATHS fetched from another machine's store
 * (`nix copy --from`). Paths must be signed by a trusted key or content-addressed, unless
 * `require-sigs` is off.
 */
export async function opCopyFrom(store: LocalStore, parsed: ParsedArgs): Promise<number> {
  const [uri, ...paths] = parsed.args as [string, ...string[]];
  if (!uri.startsWith('ssh://')) throw new UsageError(`--copy-from takes an ssh:// store, not '${uri}'`);
  for (const path of paths) if (!path.startsWith(`${store.storeDir}/`)) throw new UsageError(`'${path}' is not in the Nix store`);
  const client = await ServeClient.open(uri);
  try {
    await copyFromRemote(store, client, paths, true);
  } finally {
    await client.close();
  }
  return 0;
}
