/**
 * tsnix-daemon's listener: one process serving every connection (one store handle, one
 * set of temp roots). The socket is made with mode 0600: until the daemon reads its peers'
 * credentials (SO_PEERCRED), only the user running it (and root) may connect, and every
 * connection is trusted.
 */
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { LocalStore } from '../store/localStore.js';
import { DaemonConnection } from './connection.js';

export interface DaemonOptions {
  store: LocalStore;
  socketPath: string;
  log: (message: string) => void;
}

let connections = 0;

/** Serves one connection (a socket, or stdin/stdout with `--stdio`) until it ends. */
export async function serveConnection(input: AsyncIterable<Buffer>, output: NodeJS.WritableStream & import('node:stream').Writable, store: LocalStore, log: (message: string) => void): Promise<void> {
  const id = ++connections;
  const prefixed = (message: string): void => log(`connection ${id}: ${message}`);
  prefixed('accepted');
  try {
    await new DaemonConnection(input, output, { store, trusted: true, log: prefixed }).serve();
  } catch (e) {
    prefixed(`ended: ${(e as Error).message}`);
    return;
  }
  prefixed('closed');
}

export async function listenDaemon(options: DaemonOptions): Promise<Server> {
  const { socketPath, store, log } = options;
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
    void serveConnection(socket, socket, store, log).finally(() => socket.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
  return server;
}
