/**
 * The operations that add paths through the daemon: AddToStore (content-addressed, as
 * `nix-store --add` and `.drv` writing send), AddToStoreNar (`nix-store --import`) and
 * AddMultipleToStore (`nix copy --to`). Content arrives as a framed stream, is unpacked into
 * temporary directories while it is hashed, and is registered only once complete and
 * checked, so a client that sends half a NAR, or vanishes, leaves nothing behind.
 */
import { createHash } from 'node:crypto';
import { closeSync, fchmodSync, openSync, writeSync } from 'node:fs';
import { contentAddressPath, renderContentAddress, type ContentAddress } from '../format/contentAddress.js';
import { WireFormatError } from '../format/errors.js';
import { Hash, parseHashAlgo, type HashAlgo } from '../format/hash.js';
import { checkStorePathName } from '../format/storePath.js';
import { WireReader, WireWriter } from '../format/wire.js';
import { commitPath, commitPaths, type NewPath } from '../store/commitPath.js';
import type { LocalStore } from '../store/localStore.js';
import { restorePath } from '../store/nar/index.js';
import { makePathInfo, type ValidPathInfo } from '../store/pathInfo.js';
import { requirePathInfo } from '../store/queryPathInfo.js';
import { TempDir } from '../store/tempPath.js';
import type { DaemonConnection } from './connection.js';
import { AddPathError, checkSignatures, unpackChecked } from '../store/importChecks.js';
import { FramedSource } from './framed.js';
import type { Operation } from './operations.js';
import { ProtocolError, writePathInfo } from './protocol.js';
import { checkStorePath, readPaths } from './readArgs.js';

async function readPathList(reader: WireReader, store: LocalStore): Promise<string[]> {
  // Inside a framed payload, or within the request's budget (readPaths) otherwise.
  return (await reader.readStrings(1 << 16, 1024)).map((p) => checkStorePath(p, store.storeDir));
}

/** ValidPathInfo "with path", as AddToStoreNar and AddMultipleToStore carry it. */
export async function readPathInfo(reader: WireReader, store: LocalStore): Promise<ValidPathInfo> {
  const path = checkStorePath(await reader.readString(4096), store.storeDir);
  const deriver = await reader.readString(4096);
  if (deriver !== '') checkStorePath(deriver, store.storeDir);
  const narHashText = await reader.readString(256);
  let narHash: Hash;
  try {
    narHash = Hash.parse(narHashText, 'sha256');
  } catch (e) {
    throw new ProtocolError(`path info of '${path}': ${(e as Error).message}`);
  }
  const references = await readPathList(reader, store);
  const registrationTime = await reader.readU64();
  const narSize = await reader.readU64();
  const ultimate = (await reader.readU64()) !== 0;
  const sigs = await reader.readStrings(1024, 4096);
  const ca = await reader.readString(4096);
  return makePathInfo({ path, narHash, narSize, references: [...references].sort(), deriver: deriver || undefined, registrationTime, ultimate, sigs, ca: ca || undefined });
}

/**
 * Runs `work` on the framed stream and then reads what it left of it; the stream must be read
 * to its end before the answer, failure or not. A broken frame ends the connection.
 */
async function withFramed<T>(conn: DaemonConnection, work: (framed: FramedSource) => Promise<T>): Promise<T> {
  const framed = new FramedSource(conn.reader);
  let result: T | undefined;
  let failure: unknown;
  try {
    result = await work(framed);
  } catch (e) {
    failure = e;
  }
  // Throws, ending the connection, only if the frames themselves are broken or cut off.
  await framed.drain();
  if (failure !== undefined) {
    // The frames were whole: a malformed NAR inside them is the content's fault, not the connection's.
    throw failure instanceof WireFormatError ? new AddPathError(failure.message) : failure;
  }
  return result as T;
}

/** Writes the payload to `file` (mode 0444) while hashing it with `algo`. */
async function writeHashed(framed: FramedSource, file: string, algo: HashAlgo): Promise<Hash> {
  const hasher = createHash(algo);
  const fd = openSync(file, 'wx', 0o600);
  try {
    for await (const chunk of framed.chunks()) {
      hasher.update(chunk);
      for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done);
    }
    fchmodSync(fd, 0o444);
  } finally {
    closeSync(fd);
  }
  return new Hash(algo, hasher.digest());
}

function refuseRepair(repair: boolean): void {
  if (repair) throw new AddPathError('repairing paths through tsnix-daemon is not supported yet');
}

const addToStore: Operation = async (conn) => {
  const { store } = conn.ctx;
  const name = await conn.reader.readString(1024);
  const method = await conn.reader.readString(64);
  const references = await readPaths(conn);
  const repair = (await conn.reader.readU64()) !== 0;
  return async () => {
    const path = await withFramed(conn, async (framed) => {
      refuseRepair(repair);
      checkStorePathName(name, name);
      const temp = await TempDir.create(store.layout, 'daemon', store.onWait);
      try {
        let ca: ContentAddress;
        let narHash: Hash;
        let narSize: number;
        if (method.startsWith('fixed:r:')) {
          // A NAR; its path's hash is the NAR's, in the algorithm asked for.
          const algo = parseHashAlgo(method.slice('fixed:r:'.length));
          const extra = algo === 'sha256' ? undefined : createHash(algo);
          const payload = new WireReader(framed.chunks(), 'framed stream');
          if (extra) payload.onConsume = (bytes) => extra.update(bytes);
          ({ narHash, narSize } = await restorePath(temp.contentPath, payload, { useCaseHack: store.useCaseHack }));
          if (!(await payload.atEnd())) throw new AddPathError(`the NAR of '${name}' is followed by more data`);
          ca = { method: 'recursive', hash: extra ? new Hash(algo, extra.digest()) : narHash };
        } else if (method === 'text:sha256' || (method.startsWith('fixed:') && !method.startsWith('fixed:r:'))) {
          // The file's bytes: a text file (a .drv, builtins.toFile) or a flat fixed output.
          const text = method.startsWith('text:');
          if (!text && references.length > 0) throw new AddPathError(`a flat content-addressed path ('${name}') cannot have references`);
          const hash = await writeHashed(framed, temp.contentPath, text ? 'sha256' : parseHashAlgo(method.slice('fixed:'.length)));
          ({ narHash, narSize } = await store.hashing.hashPath(temp.contentPath, [], false));
          ca = text ? { method: 'text', hash } : { method: 'flat', hash };
        } else {
          throw new AddPathError(`content-address method '${method}' is not supported`);
        }
        const path = contentAddressPath(ca, name, references, undefined, store.storeDir);
        conn.ctx.restriction?.checkReferences(path, references);
        conn.ctx.restriction?.checkDerivationFile(path, temp.contentPath, references);
        await commitPath(store, temp, makePathInfo({ path, narHash, narSize, references: [...references].sort(), ca: renderContentAddress(ca) }));
        return path;
      } catch (e) {
        temp.remove();
        throw e;
      }
    });
    await conn.ctx.restriction?.add([path]);
    await conn.reply(writePathInfo(new WireWriter(), requirePathInfo(store.db, path), true).toBuffer());
  };
};

const addToStoreNar: Operation = async (conn) => {
  const { store, trusted } = conn.ctx;
  const info = await readPathInfo(conn.reader, store);
  const repair = (await conn.reader.readU64()) !== 0;
  // An untrusted client cannot skip the signature check, nor claim to have built a path.
  const dontCheckSigs = (await conn.reader.readU64()) !== 0 && trusted;
  if (!trusted) info.ultimate = false;
  return async () => {
    await withFramed(conn, async (framed) => {
      refuseRepair(repair);
      checkSignatures(info, store, !dontCheckSigs);
      const payload = new WireReader(framed.chunks(), 'framed stream');
      conn.ctx.restriction?.checkReferences(info.path, info.references);
      const temp = await unpackChecked(store, payload, info);
      try {
        conn.ctx.restriction?.checkDerivationFile(info.path, temp.contentPath, info.references);
        conn.ctx.restriction?.checkKnownPath(info);
      } catch (e) {
        temp.remove();
        throw e;
      }
      await commitPaths(store, [{ temp, info }]);
    });
    await conn.ctx.restriction?.add([info.path]);
    await conn.reply();
  };
};

const addMultipleToStore: Operation = async (conn) => {
  const { store, trusted } = conn.ctx;
  const repair = (await conn.reader.readU64()) !== 0;
  const dontCheckSigs = (await conn.reader.readU64()) !== 0 && trusted;
  return async () => {
    await withFramed(conn, async (framed) => {
      refuseRepair(repair);
      const payload = new WireReader(framed.chunks(), 'framed stream');
      const count = await payload.readU64();
      const entries: NewPath[] = [];
      // One temporary directory for the whole stream, a part of it for each path.
      const area = await TempDir.create(store.layout, 'import', store.onWait);
      try {
        for (let i = 0; i < count; i++) {
          const info = await readPathInfo(payload, store);
          info.ultimate = false;
          checkSignatures(info, store, !dontCheckSigs);
          // Earlier paths of the same stream count as seen (they come dependencies first).
          conn.ctx.restriction?.checkReferences(info.path, info.references.filter((r) => !entries.some((e) => e.info.path === r)));
          const temp = await unpackChecked(store, payload, info, area);
          entries.push({ temp, info });
          conn.ctx.restriction?.checkDerivationFile(info.path, temp.contentPath, info.references);
          conn.ctx.restriction?.checkKnownPath(info);
        }
        // In the order given (dependencies first), all or, on a failure, what came before it.
        await commitPaths(store, entries);
      } catch (e) {
        // Every part with it (what commitPaths moved into the store is no longer there).
        area.remove();
        throw e;
      }
      // Emptied by the commit (each part moved into the store or deleted).
      area.removeInBackground();
      await conn.ctx.restriction?.add(entries.map((e) => e.info.path));
    });
    await conn.reply();
  };
};

export const ADD_OPERATIONS: ReadonlyMap<number, Operation> = new Map([
  [7, addToStore],
  [39, addToStoreNar],
  [44, addMultipleToStore],
]);
