/**
 * HTTP/2 on Node's own `node:http2`: one TLS connection per cache, every request a stream on
 * it, so a level of a closure (hundreds of narinfos) goes out at once over one connection.
 * undici can speak HTTP/2 too, but it opens a connection per request while the first is still
 * connecting, and with a thousand requests queued it spent ~1.6 ms of CPU on each (measured:
 * 1,000 narinfos from a local server, 1.6 s of CPU against 0.15 s here).
 */
import { connect as http2Connect, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { connectTls, type HttpClient, type HttpClientOptions, type HttpRequestOptions, type HttpResponse } from './httpClient.js';
import { TransientCacheError } from './errors.js';

/** A NAR stream may have this much unread in flight, and the connection all of them together. */
const STREAM_WINDOW = 4 << 20;
const SESSION_WINDOW = 32 << 20;

/** A connection and its open streams: while it has none it does not keep the process alive. */
interface Connection {
  session: ClientHttp2Session;
  active: number;
  /** Failed, closed or told to go away: no new streams (open ones finish or fail on their own). */
  gone: boolean;
}

export class Http2Client implements HttpClient {
  /** The connection new requests use, or the attempt to make it. */
  private current: Promise<Connection> | undefined;
  /** Every connection not yet closed, the current one and those still finishing streams. */
  private readonly open = new Set<Connection>();

  constructor(
    private readonly origin: URL,
    private readonly options: HttpClientOptions,
    first: TLSSocket,
  ) {
    this.current = Promise.resolve(this.start(first));
  }

  private start(socket: TLSSocket): Connection {
    const session = http2Connect(this.origin, { createConnection: () => socket, settings: { initialWindowSize: STREAM_WINDOW } });
    const connection: Connection = { session, active: 0, gone: false };
    this.open.add(connection);
    session.setLocalWindowSize(SESSION_WINDOW);
    // A server that sends nothing for the timeout while requests wait has hung: the
    // connection is dropped and its requests fail (and are tried again on a new one). One
    // timer for the connection; a timer per stream cost ~20 us a request.
    session.setTimeout(this.options.timeout, () => {
      if (connection.active > 0) session.destroy(new Error(`no answer within ${this.options.timeout / 1000} s`));
    });
    const retire = (): void => {
      connection.gone = true;
    };
    session.on('error', retire);
    // After a GOAWAY (nginx sends one every 1,000 requests) the streams begun still finish.
    session.on('goaway', retire);
    session.on('close', () => {
      retire();
      this.open.delete(connection);
    });
    session.unref();
    return connection;
  }

  private async connect(): Promise<Connection> {
    const socket = await connectTls(this.origin, this.options);
    if (socket.alpnProtocol !== 'h2') {
      socket.destroy();
      throw new TransientCacheError(`'${this.origin.origin}' no longer offers HTTP/2`);
    }
    return this.start(socket);
  }

  /** The current connection, made again when it has gone; a failed attempt is not kept. */
  private async connected(): Promise<Connection> {
    for (;;) {
      const attempt = (this.current ??= this.connect());
      let connection: Connection;
      try {
        connection = await attempt;
      } catch (error) {
        if (this.current === attempt) this.current = undefined;
        throw error;
      }
      if (!connection.gone) return connection;
      if (this.current === attempt) this.current = undefined;
    }
  }

  async request(path: string, options: HttpRequestOptions): Promise<HttpResponse> {
    const connection = await this.connected();
    const { session } = connection;
    const { signal } = options;
    if (signal?.aborted) throw signal.reason;
    return new Promise<HttpResponse>((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = session.request(
          { ':method': options.method, ':path': path, ...(options.body ? { 'content-length': String(options.body.length) } : {}) },
          { endStream: options.body === undefined },
        );
      } catch (error) {
        reject(error as Error);
        return;
      }
      if (connection.active++ === 0) session.ref();
      stream.once('close', () => {
        if (--connection.active === 0) session.unref();
        // Closed without an answer and without an error (a connection that ended cleanly, a
        // stream the server cancelled): the request fails rather than waiting forever.
        reject(new Error(`the stream closed before an answer (HTTP/2 code ${stream.rstCode ?? 0})`));
      });
      if (signal) this.cancelWith(signal, stream);
      // Before the answer, an error fails the request; after it, whoever reads the body sees it.
      stream.on('error', reject);
      stream.once('response', (headers) => {
        resolve({
          statusCode: Number(headers[constants.HTTP2_HEADER_STATUS]),
          headers,
          body: stream,
          dump: () => drain(stream),
        });
      });
      if (options.body) stream.end(options.body);
    });
  }

  /**
   * Streams to cut when `signal` aborts: one listener per signal, not per request (Node's
   * own `signal` option adds one to every stream; with a thousand streams that showed).
   */
  private readonly bySignal = new WeakMap<AbortSignal, Set<ClientHttp2Stream>>();
  private cancelWith(signal: AbortSignal, stream: ClientHttp2Stream): void {
    let streams = this.bySignal.get(signal);
    if (!streams) {
      const set = new Set<ClientHttp2Stream>();
      streams = set;
      this.bySignal.set(signal, set);
      signal.addEventListener(
        'abort',
        () => {
          for (const open of set) open.destroy(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
        },
        { once: true },
      );
    }
    const set = streams;
    set.add(stream);
    stream.once('close', () => set.delete(stream));
  }

  async close(): Promise<void> {
    const pending = this.current;
    this.current = undefined;
    await pending?.catch(() => undefined);
    const connections = [...this.open];
    this.open.clear();
    await Promise.all(
      connections.map(async ({ session, active }) => {
        if (session.closed || session.destroyed) return;
        // Held again while it closes: an unheld connection would let the process end (exit
        // status 0) with the close still awaited. Streams still open are cut.
        session.ref();
        if (active > 0) session.destroy();
        else await new Promise<void>((resolve) => session.close(resolve));
      }),
    );
  }
}

function drain(stream: ClientHttp2Stream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.closed || stream.destroyed) {
      resolve();
      return;
    }
    stream.once('close', () => resolve());
    stream.resume();
  });
}
