/**
 * The store a recursive build (recursive-nix) talks to: the worker protocol on a socket in
 * its build directory (`NIX_REMOTE=unix:///build/.nix-socket` in the sandbox), for the build
 * user alone (mode 0600, owned by it). Every connection is untrusted and restricted to what
 * the build may see (restriction.ts). Builds asked for through it get job slots of their own:
 * the build asking holds one slot and waits for them. Served until the builder ends.
 */
import { chmodSync, chownSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import type { RecursiveStoreServer } from '../build/context.js';
import { SharedBuilds } from '../build/sharedBuilds.js';
import { PathRestriction } from './restriction.js';
import { serveConnection } from './server.js';

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
      void serveConnection(socket, socket, store, prefixed, false, builds, restriction).finally(() => socket.end());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(build.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Nobody but the builder: the directory is its own, the socket too.
    chmodSync(build.socketPath, 0o600);
    if (process.getuid?.() === 0) chownSync(build.socketPath, build.owner.uid, build.owner.gid);
    return {
      added: restriction.added,
      stop: async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  };
}
