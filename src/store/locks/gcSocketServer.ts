/**
 * The collector's side of the roots socket (`STATE/gc-socket/socket`, mode 0666): while a
 * collection runs, any process, tsnix or nix, that wants a new temp root writes `path\n` and
 * waits for the byte `1`. Answering means the path will not be deleted from then on.
 *
 * The collector deletes in synchronous steps, and this server answers between them, so
 * a client whose path is being deleted waits until that step is over (as nix's
 * clients wait for the path being deleted) and then finds it gone.
 */
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';

export class GcSocketServer {
  private constructor(
    private readonly server: Server,
    private readonly path: string,
    private readonly clients: Set<Socket>,
  ) {}

  /**
   * Listens on `path` (replacing a socket a dead collector left). `onRoot` is told each path
   * a client announces, before the client is answered; a line that is not a path of this
   * store is refused by closing that connection.
   */
  static async listen(path: string, onRoot: (path: string) => boolean): Promise<GcSocketServer> {
    mkdirSync(dirname(path), { recursive: true });
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const clients = new Set<Socket>();
    const server = createServer((socket) => {
      clients.add(socket);
      let pending = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        pending += chunk;
        for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n')) {
          const line = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          let accepted: boolean;
          try {
            accepted = onRoot(line);
          } catch {
            // Say, the database busy: the client is not answered, so it protects nothing
            // and retries; the collection goes on.
            accepted = false;
          }
          if (!accepted) {
            socket.destroy();
            return;
          }
          socket.write('1');
        }
      });
      socket.on('error', () => {
        // A client that hangs up mid-request: its path was not protected, nothing to undo.
      });
      socket.on('close', () => clients.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Every user's processes must be able to announce roots, as with nix.
    chmodSync(path, 0o666);
    return new GcSocketServer(server, path, clients);
  }

  /** Stops listening and hangs up on every client (they then see the GC lock free). */
  async close(): Promise<void> {
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone: nothing to clean.
    }
    for (const socket of this.clients) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
