/**
 * Immediate ACKs on HTTP/1.1 connections to caches (TCP_QUICKACK, through the small addon in
 * addon-c/). A server that writes an answer's headers and its body in two writes with
 * Nagle's algorithm on (Python's http.server does; so does the shared benchmark's cache)
 * holds the body back until the headers are acknowledged, and Linux delays that ACK by
 * 40 ms: measured 144 ms an answer instead of 102 on a 100 ms server. Linux drops the mode
 * again by itself, so it is set after every read.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { packageFile } from '../packagePaths.js';

interface SocketOptions {
  quickAck(fd: number): boolean;
}

let addon: SocketOptions | null | undefined;

/** The addon, or null where it cannot be loaded (not built, another platform): then ACKs stay delayed. */
function socketOptions(): SocketOptions | null {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(packageFile('addon-c/socket-options.node')) as SocketOptions;
    } catch {
      addon = null;
    }
  }
  return addon;
}

/** Keeps `socket` acknowledging at once whatever arrives. */
export function acknowledgeAtOnce(socket: Socket): void {
  const options = socketOptions();
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (!options || typeof fd !== 'number' || fd < 0) return;
  // A 'data' listener only watches here: the HTTP client reads through 'readable', which
  // keeps the socket out of flowing mode, and each read also emits 'data'.
  socket.on('data', () => {
    try {
      options.quickAck(fd);
    } catch {
      // A socket closing meanwhile: nothing to acknowledge.
    }
  });
}
