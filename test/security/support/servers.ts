import { createServer, type Server } from 'node:net';
import { randomBytes } from 'node:crypto';

/** A server the test runs on the host that counts every connection it gets. */
export interface CountingServer {
  server: Server;
  connections: number;
  close(): Promise<void>;
}

function counting(server: Server): CountingServer {
  const state: CountingServer = {
    server,
    connections: 0,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  server.on('connection', (socket) => {
    state.connections++;
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The attacker closes without reading the answer; anything else is a real failure.
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') throw error;
    });
    socket.end('HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nsecret');
  });
  return state;
}

/** A TCP server on 127.0.0.1 (a free port); returns it and its port. */
export async function loopbackServer(): Promise<CountingServer & { port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no TCP address');
  return Object.assign(counting(server), { port: address.port });
}

/** A server on an abstract Unix socket in the host's network namespace; returns it and its name (without the NUL). */
export async function abstractServer(): Promise<CountingServer & { name: string }> {
  const name = `tsnix-test-${randomBytes(6).toString('hex')}`;
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(`\0${name}`, resolve));
  return Object.assign(counting(server), { name });
}
