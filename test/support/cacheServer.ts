/**
 * A binary cache served over HTTP/1.1 on 127.0.0.1 from a directory, for tests, with faults
 * on demand: answers that are errors, hang, or break off in the middle of a file. It counts
 * the requests and connections it saw.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join, normalize } from 'node:path';

export type Fault = { kind: 'status'; status: number } | { kind: 'hang' } | { kind: 'cut'; afterBytes: number };

export class CacheServer {
  requests: string[] = [];
  connections = 0;
  /** Faults by file name, each used `times` times (then the file is served normally). */
  private readonly faults = new Map<string, { fault: Fault; times: number }>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async serve(dir: string): Promise<CacheServer> {
    let self: CacheServer | undefined;
    const server = createServer((req, res) => void self!.handle(dir, req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    self = new CacheServer(server, `http://127.0.0.1:${address.port}`);
    server.on('connection', (socket: Socket) => {
      self!.connections++;
      self!.sockets.add(socket);
      socket.on('close', () => self!.sockets.delete(socket));
    });
    return self;
  }

  inject(name: string, fault: Fault, times = Infinity): void {
    this.faults.set(name, { fault, times });
  }

  private async handle(dir: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const name = decodeURIComponent((req.url ?? '/').replace(/^\/+/, '').split('?')[0]!);
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
      res.write(body.subarray(0, fault.afterBytes));
      // The connection drops mid-file, as a crashing server's would.
      setTimeout(() => req.socket.destroy(), 20);
      return;
    }
    res.end(body);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
