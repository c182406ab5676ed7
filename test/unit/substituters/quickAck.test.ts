import assert from 'node:assert/strict';
import { openSync, closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, connect, type Socket } from 'node:net';
import { packageFile } from '../../../src/packagePaths.js';
import { acknowledgeAtOnce } from '../../../src/substituters/quickAck.js';

const addon = createRequire(import.meta.url)(packageFile('addon-c/socket-options.node')) as { quickAck(fd: number): boolean };
const fdOf = (socket: Socket): number => (socket as unknown as { _handle: { fd: number } })._handle.fd;

describe('immediate ACKs (addon-c/socket-options.node)', () => {
  it('sets TCP_QUICKACK on a connected TCP socket, and refuses what is not one', async () => {
    const server = createServer((s) => s.end('hello'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    assert.equal(addon.quickAck(fdOf(socket)), true);
    const file = openSync(packageFile('package.json'), 'r');
    try {
      assert.equal(addon.quickAck(file), false);
    } finally {
      closeSync(file);
    }
    assert.throws(() => addon.quickAck(-1 as number), /file descriptor/);
    // Watching a socket leaves its reader's data intact.
    acknowledgeAtOnce(socket);
    socket.setEncoding('utf8');
    let text = '';
    socket.on('readable', () => {
      let chunk: string | null;
      while ((chunk = socket.read() as string | null) !== null) text += chunk;
    });
    await new Promise((resolve) => socket.once('end', resolve));
    assert.equal(text, 'hello');
    socket.destroy();
    server.close();
  });
});
