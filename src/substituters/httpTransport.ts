/**
 * `http://` and `https://` binary caches: a cache's files by name, with Nix's reading of
 * statuses (404/403/410 = not there, 5xx = try again) and `download-attempts` retries. The
 * connections are an HttpClient's (httpClient.ts): HTTP/2 where the server offers it, else
 * kept-alive HTTP/1.1 bounded by `http-connections`.
 */
import type { Readable } from 'node:stream';
import { CacheAccessError, TransientCacheError } from './errors.js';
import { openHttpClient, type HttpClient, type HttpRequestOptions, type HttpResponse } from './httpClient.js';
import type { CacheTransport } from './transport.js';

export interface HttpTransportOptions {
  /** `http-connections`: most connections at once (0 = no limit). */
  connections: number;
  /** `connect-timeout` in seconds (0 = 300, as curl's default that Nix keeps). */
  connectTimeout: number;
  /** `download-attempts`: tries of a request that fails for a passing reason (5xx, a dropped connection). */
  attempts: number;
  /** The certificates to trust instead of Node's (`ssl-cert-file`), read at the first connection. */
  ca?: () => Buffer | Buffer[] | undefined;
}

/** The most a narinfo or nix-cache-info may hold (a narinfo of thousands of references is a few hundred KiB). */
const MAX_SMALL_FILE = 16 << 20;

/** Statuses that mean "not here", as Nix reads them. */
const ABSENT = new Set([404, 403, 410]);

/** Redirects followed for one request, as curl's default in Nix (CURLOPT_MAXREDIRS is unset; 10 is plenty). */
const MAX_REDIRECTS = 10;
const REDIRECT = new Set([301, 302, 303, 307, 308]);

export class HttpTransport implements CacheTransport {
  /** A client per origin: the cache's own, and those its redirects lead to (a CDN, a bucket). */
  private readonly clients = new Map<string, Promise<HttpClient>>();

  constructor(
    readonly uri: string,
    private readonly base: string,
    private readonly options: HttpTransportOptions,
  ) {}

  /** Connects on first use; a failed first connection is tried again by the next request. */
  private connection(origin: string): Promise<HttpClient> {
    let client = this.clients.get(origin);
    if (!client) {
      const timeout = (this.options.connectTimeout > 0 ? this.options.connectTimeout : 300) * 1000;
      const attempt = (async () => {
        const ca = origin.startsWith('https:') ? this.options.ca?.() : undefined;
        return openHttpClient(origin, { connections: this.options.connections, timeout, ...(ca ? { ca } : {}) });
      })();
      client = attempt;
      this.clients.set(origin, attempt);
      attempt.catch(() => {
        if (this.clients.get(origin) === attempt) this.clients.delete(origin);
      });
    }
    return client;
  }

  /**
   * `name` of the cache, following redirects (GET and HEAD; a redirect to a scheme other than
   * http(s) is refused).
   */
  private async request(name: string, options: HttpRequestOptions): Promise<HttpResponse> {
    let url = new URL(this.url(name));
    for (let redirects = 0; ; redirects++) {
      const client = await this.connection(url.origin);
      const response = await client.request(`${url.pathname}${url.search}`, options);
      const location = response.headers['location'];
      if (options.method === 'PUT' || !REDIRECT.has(response.statusCode) || typeof location !== 'string') return response;
      await response.dump();
      if (redirects >= MAX_REDIRECTS) throw new CacheAccessError(`unable to download '${this.url(name)}': more than ${MAX_REDIRECTS} redirects`);
      url = new URL(location, url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CacheAccessError(`unable to download '${this.url(name)}': redirected to '${url.href}'`);
    }
  }

  private url(name: string): string {
    return `${this.base}/${name}`;
  }

  /** One GET (`urgent` for a download); transport failures and 5xx become TransientCacheError. */
  private async get(name: string, signal?: AbortSignal, urgent = false): Promise<HttpResponse | undefined> {
    let response: HttpResponse;
    try {
      response = await this.request(name, { method: 'GET', urgent, ...(signal ? { signal } : {}) });
    } catch (error) {
      // A certificate file that cannot be read will not be readable on the next attempt either.
      if (signal?.aborted || error instanceof CacheAccessError) throw error;
      throw new TransientCacheError(`unable to download '${this.url(name)}': ${(error as Error).message}`);
    }
    if (ABSENT.has(response.statusCode)) {
      await response.dump();
      return undefined;
    }
    if (response.statusCode < 200 || response.statusCode >= 300) {
      await response.dump();
      const text = `unable to download '${this.url(name)}': HTTP error ${response.statusCode}`;
      throw response.statusCode >= 500 || response.statusCode === 429 ? new TransientCacheError(text) : new CacheAccessError(text);
    }
    return response;
  }

  /** Runs `attempt` up to `download-attempts` times while it fails transiently, waiting longer each time. */
  async retrying<T>(attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let tried = 1; ; tried++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof TransientCacheError) || tried >= Math.max(1, this.options.attempts) || signal?.aborted) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** (tried - 1), 4000)));
      }
    }
  }

  async getFile(name: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    return this.retrying(async () => {
      const response = await this.get(name, signal);
      if (!response) return undefined;
      try {
        // Narinfos and nix-cache-info are small; a body that is not is refused, not buffered.
        const declared = Number(response.headers['content-length'] ?? 0);
        if (declared > MAX_SMALL_FILE) throw new CacheAccessError(`'${this.url(name)}' is ${declared} bytes, too large for a narinfo`);
        const body = await readSmallBody(response.body, () => new CacheAccessError(`'${this.url(name)}' is larger than ${MAX_SMALL_FILE} bytes, too large for a narinfo`));
        checkLength(response, body.length);
        return body;
      } catch (error) {
        // A body refused unread still holds its connection until it is let go. (Destroying an
        // unfinished body emits an error; undici listens for it itself, and so does this.)
        response.body.on('error', () => {}).destroy();
        if (error instanceof CacheAccessError) throw error;
        if (signal?.aborted) throw error;
        throw new TransientCacheError(`unable to download '${this.url(name)}': ${(error as Error).message}`);
      }
    }, signal);
  }

  /** One attempt: whoever reads the stream starts again after a failure (a NAR is restarted whole). */
  async *streamFile(name: string, signal?: AbortSignal): AsyncIterable<Buffer> {
    const response = await this.get(name, signal, true);
    if (!response) throw new CacheAccessError(`unable to download '${this.url(name)}': HTTP error 404 (the file is not in the cache)`);
    try {
      let total = 0;
      for await (const chunk of response.body) {
        total += chunk.length;
        yield chunk;
      }
      checkLength(response, total);
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new TransientCacheError(`download of '${this.url(name)}' broke off: ${(error as Error).message}`);
    }
  }

  async hasFile(name: string, signal?: AbortSignal): Promise<boolean> {
    return this.retrying(async () => {
      let response: HttpResponse;
      try {
        response = await this.request(name, { method: 'HEAD', ...(signal ? { signal } : {}) });
      } catch (error) {
        throw new TransientCacheError(`unable to reach '${this.url(name)}': ${(error as Error).message}`);
      }
      await response.dump();
      if (response.statusCode >= 500) throw new TransientCacheError(`unable to reach '${this.url(name)}': HTTP error ${response.statusCode}`);
      return response.statusCode >= 200 && response.statusCode < 300;
    }, signal);
  }

  async putFile(name: string, content: AsyncIterable<Buffer> | Buffer): Promise<void> {
    const body = Buffer.isBuffer(content) ? content : Buffer.concat(await collect(content));
    const response = await this.request(name, { method: 'PUT', body });
    await response.dump();
    if (response.statusCode < 200 || response.statusCode >= 300) {
      throw new CacheAccessError(`unable to upload '${this.url(name)}': HTTP error ${response.statusCode}`);
    }
  }

  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map(async (pending) => (await pending.catch(() => undefined))?.close()));
  }
}

/**
 * All of a small body, through the stream's events: an async iterator costs more than the
 * narinfo's parsing, and a closure asks for a thousand of them. `tooLarge` past MAX_SMALL_FILE.
 */
function readSmallBody(body: Readable, tooLarge: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    body.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > MAX_SMALL_FILE) {
        body.destroy();
        reject(tooLarge());
      } else {
        chunks.push(chunk);
      }
    });
    body.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    body.once('error', reject);
    // A body that closes without ending (a reset stream) is cut off.
    body.once('close', () => reject(new Error('the body broke off')));
  });
}

/** A body that ended short of its Content-Length was cut off (a server that died, a reset stream). */
function checkLength(response: HttpResponse, received: number): void {
  const declared = response.headers['content-length'];
  if (typeof declared === 'string' && /^\d+$/.test(declared) && Number(declared) !== received) {
    throw new Error(`the body ended after ${received} of ${declared} bytes`);
  }
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const all: Buffer[] = [];
  for await (const chunk of chunks) all.push(chunk);
  return all;
}
