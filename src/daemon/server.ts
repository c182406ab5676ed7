/**
 * tsnix-daemon's listener: one process serving every connection (one store handle, one
 * set of temp roots, one set of build slots: a derivation two clients need is built once). As nix-daemon: the socket is mode 0666, each peer is identified by
 * SO_PEERCRED, users outside `allowed-users` are turned away, and those in `trusted-users`
 * are trusted. Where peers cannot be identified (the addon missing), the socket is made
 * 0600 instead: only the daemon's own user (and root) connects, and is trusted.
 */
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { buildSettingsFrom } from '../build/buildSettings.js';
import { SharedBuilds } from '../build/sharedBuilds.js';
import { parseMachines } from '../build/remote/machines.js';
import { RemoteBuilders } from '../build/remote/remoteBuilders.js';
import type { LocalStore } from '../store/localStore.js';
import { TempRoots } from '../store/locks/tempRoots.js';
import { DaemonConnection } from './connection.js';
import type { PathRestriction } from './restriction.js';
import { canReadPeers, identify, matchUser, peerOf } from './peerCredentials.js';

export interface DaemonOptions {
  store: LocalStore;
  socketPath: string;
  log: (message: string) => void;
}

let connections = 0;

/** One set of build slots and running builds for every connection, with the daemon's `max-jobs`. */
function sharedBuildsOf(store: LocalStore): SharedBuilds {
  return new SharedBuilds(buildSettingsFrom(store.settings).maxJobs);
}

/** Serves one connection (a socket, or stdin/stdout with `--stdio`) until it ends. */
export interface ServeOptions {
  /** May do what only trusted users may (default: yes, as for --stdio). */
  trusted?: boolean;
  /** The daemon's builds, shared by its connections (default: this connection's own). */
  builds?: SharedBuilds;
  /** A recursive build's store: what it may see. */
  restriction?: PathRestriction;
  /** The machines of the daemon's `builders`. */
  remote?: RemoteBuilders;
}

/** The machines of the daemon's `builders`, if it names any. */
export function remoteBuildersOf(store: LocalStore): RemoteBuilders | undefined {
  const machines = parseMachines(store.settings.get('builders'), store.settings.get('system'));
  return machines.length > 0 ? new RemoteBuilders(machines) : undefined;
}

export async function serveConnection(
  input: AsyncIterable<Buffer>,
  output: Writable,
  store: LocalStore,
  log: (message: string) => void,
  options: ServeOptions = {},
): Promise<void> {
  const { trusted = true, restriction, remote } = options;
  const builds = options.builds ?? sharedBuildsOf(store);
  const id = ++connections;
  const prefixed = (message: string): void => log(`connection ${id}: ${message}`);
  // The connection's temp roots go when it ends, as with nix-daemon's process per connection.
  const roots = TempRoots.session(store.layout);
  try {
    const ctx = { store: store.withTempRoots(roots), trusted, log: prefixed, builds, ...(restriction ? { restriction } : {}), ...(remote ? { remote } : {}) };
    await new DaemonConnection(input, output, ctx).serve();
  } catch (e) {
    prefixed(`ended: ${(e as Error).message}`);
    return;
  } finally {
    roots.close();
  }
  prefixed('closed');
}

/** Who may connect, and whether trusted; undefined when turned away (logged). */
function admit(socket: Socket, store: LocalStore, log: (message: string) => void): boolean | undefined {
  if (!canReadPeers()) {
    // Behind a 0600 socket (see above): the daemon's own user, or root.
    log(`accepted connection (peers cannot be identified here; the socket admits only the daemon's user) (trusted)`);
    return true;
  }
  const peer = peerOf(socket);
  if (peer === undefined) {
    // Anyone may reach a 0666 socket: who cannot be identified is not let in.
    log('error processing connection: cannot identify the peer (SO_PEERCRED)');
    return undefined;
  }
  const identity = identify(peer);
  const trusted = matchUser(identity, store.settings.strings('trusted-users'));
  if (!trusted && !matchUser(identity, store.settings.strings('allowed-users'))) {
    log(`error processing connection: user '${identity.user}' is not allowed to connect to the Nix daemon`);
    return undefined;
  }
  log(`accepted connection from pid ${peer.pid}, user ${identity.user}${trusted ? ' (trusted)' : ''}`);
  return trusted;
}

export interface ListeningDaemon {
  server: Server;
  /**
   * Stops serving: no new connections; every client is hung up on, so that its builds stop
   * (builders killed, nothing half-built valid) and their directories are removed; resolves
   * when that is done, or after `graceMs`.
   */
  stop(graceMs?: number): Promise<void>;
}

export async function listenDaemon(options: DaemonOptions): Promise<ListeningDaemon> {
  const { socketPath, store, log } = options;
  const builds = sharedBuildsOf(store);
  const remote = remoteBuildersOf(store);
  const open = new Map<Socket, Promise<void>>();
  mkdirSync(dirname(socketPath), { recursive: true });
  try {
    unlinkSync(socketPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const server = createServer((socket: Socket) => {
    socket.on('error', () => {
      // A client that vanished: its connection ends below.
    });
    const trusted = admit(socket, store, log);
    if (trusted === undefined) {
      socket.destroy();
      return;
    }
    const served = serveConnection(socket, socket, store, log, { trusted, builds, ...(remote ? { remote } : {}) }).finally(() => {
      socket.end();
      open.delete(socket);
    });
    open.set(socket, served);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, canReadPeers() ? 0o666 : 0o600);
  const stop = async (graceMs = 10000): Promise<void> => {
    server.close();
    const connections = [...open.values()];
    for (const socket of open.keys()) socket.destroy();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.allSettled(connections).then(() => builds.drain()), grace]);
    clearTimeout(timer);
    await remote?.close();
  };
  return { server, stop };
}
