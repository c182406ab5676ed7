/**
 * The one thing the HTTP transport needs of a connection pool: send a request, get a status,
 * headers and a body stream. Two kinds stand behind it, chosen per cache when it is first
 * asked: HTTP/2 on Node's own `node:http2` when a TLS server offers it (one connection, every
 * request a stream), else HTTP/1.1 through undici (kept-alive connections, `http-connections`
 * of them).
 */
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { TransientCacheError } from './errors.js';

export interface HttpResponse {
  statusCode: number;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** undici's body or the HTTP/2 stream: a Readable either way. */
  body: Readable;
  /** Reads and drops what is left of the body, freeing the connection (or the stream). */
  dump(): Promise<void>;
}

export interface HttpRequestOptions {
  method: 'GET' | 'HEAD' | 'PUT';
  body?: Buffer;
  signal?: AbortSignal;
  /**
   * A download (a NAR) goes ahead of queued small requests where connections are few: with
   * `-j N` downloads at most N run at once, and the narinfos still to ask take the other
   * connections, so both kinds keep every connection busy.
   */
  urgent?: boolean;
}

export interface HttpClient {
  /** `path` is absolute on the server (`/nix-cache-info`). */
  request(path: string, options: HttpRequestOptions): Promise<HttpResponse>;
  close(): Promise<void>;
}

export interface HttpClientOptions {
  /** `http-connections`: most connections at once (0 = no limit); HTTP/2 needs only one. */
  connections: number;
  /** Milliseconds to wait for a connection, and for an answer once asked. */
  timeout: number;
  /** PEM certificates to trust instead of Node's (`ssl-cert-file`). */
  ca?: Buffer | Buffer[];
}

/**
 * A TLS connection to `origin` offering HTTP/2 and HTTP/1.1 (ALPN). Fails with a
 * TransientCacheError naming the server when it cannot be made within the timeout.
 */
export function connectTls(origin: URL, options: HttpClientOptions): Promise<TLSSocket> {
  const host = origin.hostname.replace(/^\[|\]$/g, '');
  const port = Number(origin.port || 443);
  return new Promise((resolve, reject) => {
    // A host name is sent as SNI; an IP address may not be (RFC 6066).
    const isIp = /^[\d.]+$/.test(host) || host.includes(':');
    // node:tls is loaded here, not with this module: http:// caches do without its ~5 ms.
    const { connect: tlsConnect } = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
    const socket = tlsConnect({ host, port, ALPNProtocols: ['h2', 'http/1.1'], ...(isIp ? {} : { servername: host }), ...(options.ca ? { ca: options.ca } : {}) });
    const fail = (error: Error): void => {
      socket.destroy();
      reject(new TransientCacheError(`unable to connect to '${origin.origin}': ${error.message}`));
    };
    const timer = setTimeout(() => fail(new Error(`no connection within ${options.timeout / 1000} s`)), options.timeout);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      // Until HTTP/2 takes the socket over (or it is dropped for HTTP/1.1), an error on it
      // must not be an unhandled 'error' event; whoever uses it then sees it closed.
      socket.on('error', () => {});
      resolve(socket);
    });
    const onError = (error: Error): void => {
      clearTimeout(timer);
      fail(error);
    };
    socket.once('error', onError);
  });
}

/**
 * The client for `base`. For https:// the first connection asks the server which protocol it
 * speaks; HTTP/2 keeps that connection, HTTP/1.1 hands over to undici.
 */
export async function openHttpClient(base: string, options: HttpClientOptions): Promise<HttpClient> {
  const origin = new URL(base);
  if (origin.protocol === 'https:') {
    const socket = await connectTls(origin, options);
    if (socket.alpnProtocol === 'h2') {
      const { Http2Client } = await import('./http2Client.js');
      return new Http2Client(origin, options, socket);
    }
    socket.destroy();
  }
  const { Http1Client } = await import('./http1Client.js');
  return Http1Client.create(origin, options);
}
