/**
 * A binary cache served on 127.0.0.1 from a directory, for tests, over plain HTTP/1.1, over
 * HTTPS offering HTTP/2 (and 1.1), or over HTTPS with HTTP/1.1 only; with faults on demand:
 * answers that are errors, hang, or break off in the middle of a file. It counts the requests
 * and connections it saw.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { constants as h2, createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { join, normalize } from 'node:path';
import { fixture } from './fixtures.js';

/** The certificate the TLS servers use; a client trusts it through `ssl-cert-file` or NIX_SSL_CERT_FILE. */
export const TEST_CERT = fixture('tls/cert.pem');

export type Protocol = 'http' | 'https-h2' | 'https-h1';

export type Fault = { kind: 'status'; status: number } | { kind: 'hang' } | { kind: 'cut'; afterBytes: number } | { kind: 'delay'; ms: number } | { kind: 'redirect'; location: string };

export class CacheServer {
  requests: string[] = [];
  connections = 0;
  /** Faults by file name, each used `times` times (then the file is served normally). */
  private readonly faults = new Map<string, { fault: Fault; times: number }>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server | ReturnType<typeof createSecureServer>,
    readonly url: string,
    /** The path every file is served under (see serve()). */
    private readonly prefix: string,
  ) {}

  private static served = 0;

  static async serve(dir: string, protocol: Protocol = 'http'): Promise<CacheServer> {
    let self: CacheServer | undefined;
    const handler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void => void self!.handle(dir, req, res);
    const tls = { cert: readFileSync(TEST_CERT), key: readFileSync(fixture('tls/key.pem')) };
    const server =
      protocol === 'https-h2' ? createSecureServer({ ...tls, allowHTTP1: true }, handler) : protocol === 'https-h1' ? createHttpsServer(tls, handler) : createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    // A path of its own in the URL: the kernel may give a later server the port of an earlier
    // one, and the narinfo disk caches (ours and nix's, one per test process) would then take
    // it for the same cache and answer from what they remember of the other.
    const prefix = `/cache-${process.pid}-${++CacheServer.served}`;
    self = new CacheServer(server, `${protocol === 'http' ? 'http' : 'https'}://127.0.0.1:${address.port}${prefix}`, prefix);
    server.on(protocol === 'http' ? 'connection' : 'secureConnection', (socket: Socket) => {
      self!.connections++;
      self!.sockets.add(socket);
      socket.on('close', () => self!.sockets.delete(socket));
    });
    return self;
  }

  inject(name: string, fault: Fault, times = Infinity): void {
    this.faults.set(name, { fault, times });
  }

  private async handle(dir: string, req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    if (!raw.startsWith(`${this.prefix}/`)) {
      this.requests.push(raw);
      res.writeHead(404).end();
      return;
    }
    const name = decodeURIComponent(raw.slice(this.prefix.length).replace(/^\/+/, '').split('?')[0]!);
    this.requests.push(name);
    const planned = this.faults.get(name);
    let fault: Fault | undefined;
    if (planned && planned.times > 0) {
      planned.times--;
      fault = planned.fault;
    }
    if (fault?.kind === 'status') {
      res.writeHead(fault.status).end('fault');
      return;
    }
    if (fault?.kind === 'hang') return; // never answers
    if (fault?.kind === 'redirect') {
      res.writeHead(302, { location: fault.location }).end();
      return;
    }
    if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
    const path = normalize(join(dir, name));
    if (!path.startsWith(dir)) {
      res.writeHead(403).end();
      return;
    }
    let body: Buffer;
    try {
      body = await readFile(path);
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (fault?.kind === 'cut') {
      (res as ServerResponse).write(body.subarray(0, fault.afterBytes));
      // The file breaks off: over HTTP/2 its stream is reset, else the connection drops, as
      // a crashing server's would.
      setTimeout(() => ('stream' in req ? req.stream.close(h2.NGHTTP2_INTERNAL_ERROR) : req.socket.destroy()), 20);
      return;
    }
    res.end(body);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
