/**
 * The store a recursive build (recursive-nix) talks to: the worker protocol on a socket in
 * its build directory (`NIX_REMOTE=unix:///build/.nix-socket` in the sandbox), for the build
 * user alone (mode 0600, owned by it). Every connection is untrusted and restricted to what
 * the build may see (restriction.ts). Builds asked for through it get job slots of their own:
 * the build asking holds one slot and waits for them. Served until the builder ends.
 */
import { closeSync, constants, lchownSync, openSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import type { RecursiveStoreServer } from '../build/context.js';
import { SharedBuilds } from '../build/sharedBuilds.js';
import { PathRestriction } from './restriction.js';
import { serveConnection } from './server.js';

/**
 * Listens on `socketPath` with mode 0600. Bound through `/proc/self/fd/N/NAME`, N the
 * directory: a build directory's path can be longer than a socket address holds (108 bytes),
 * which would otherwise cut the name short.
 */
async function listenPrivately(server: Server, socketPath: string): Promise<void> {
  const dir = openSync(dirname(socketPath), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The mode comes from the umask at bind(), which listen() calls before it returns.
      const umask = process.umask(0o177);
      try {
        server.listen(`/proc/self/fd/${dir}/${basename(socketPath)}`, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
  } finally {
    closeSync(dir);
  }
}

export function recursiveStoreServer(log: (message: string) => void): RecursiveStoreServer {
  return async (build) => {
    const { store } = build.ctx;
    const restriction = new PathRestriction(store, build.inputClosure, build.materialise);
    const builds = new SharedBuilds(Math.max(1, build.ctx.settings.maxJobs));
    const sockets = new Set<Socket>();
    const prefixed = (message: string): void => log(`recursive build '${build.drvPath}': ${message}`);
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {
        // The builder went away: its connection ends below.
      });
      socket.on('close', () => sockets.delete(socket));
      void serveConnection(socket, socket, store, prefixed, { trusted: false, builds, restriction }).finally(() => socket.end());
    });
    try {
      await listenPrivately(server, build.socketPath);
      // The builder's alone (it has not started yet: nothing of its own is in the directory).
      if (process.getuid?.() === 0) lchownSync(build.socketPath, build.owner.uid, build.owner.gid);
    } catch (e) {
      server.close();
      throw e;
    }
    return {
      added: restriction.added,
      stop: async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  };
}
