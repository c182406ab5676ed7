/**
 * `http://` and `https://` binary caches, through undici: connections are kept alive and
 * bounded by `http-connections`, and HTTP/2 is used where the server offers it (over TLS),
 * so that many narinfo requests share one connection instead of waiting for each other.
 */
import type { Agent, Dispatcher } from 'undici';
import { CacheAccessError, TransientCacheError } from './errors.js';
import type { CacheTransport } from './transport.js';

export interface HttpTransportOptions {
  /** `http-connections`: most connections at once (0 = no limit). */
  connections: number;
  /** `connect-timeout` in seconds (0 = 300, as curl's default that Nix keeps). */
  connectTimeout: number;
  /** `download-attempts`: tries of a request that fails for a passing reason (5xx, a dropped connection). */
  attempts: number;
}

/** The most a narinfo or nix-cache-info may hold (a narinfo of thousands of references is a few hundred KiB). */
const MAX_SMALL_FILE = 16 << 20;

/** Statuses that mean "not here", as Nix reads them. */
const ABSENT = new Set([404, 403, 410]);


/** undici is loaded when a cache is first asked: loading it costs ~140 ms of every command's start. */
type Undici = typeof import('undici');
let undici: Promise<Undici> | undefined;
const loadUndici = (): Promise<Undici> => (undici ??= import('undici'));

export class HttpTransport implements CacheTransport {
  private agent: Promise<Agent> | undefined;

  constructor(
    readonly uri: string,
    private readonly base: string,
    private readonly options: HttpTransportOptions,
  ) {}

  private dispatcher(): Promise<Agent> {
    this.agent ??= loadUndici().then((u) => this.makeAgent(u));
    return this.agent;
  }

  /** `request` with our agent. */
  private async request(url: string, options: { method: 'GET' | 'HEAD' | 'PUT'; body?: Buffer; signal?: AbortSignal }): Promise<Dispatcher.ResponseData> {
    const { request } = await loadUndici();
    return request(url, { dispatcher: await this.dispatcher(), ...options });
  }

  private makeAgent({ Agent }: Undici): Agent {
    const options = this.options;
    const base = this.base;
    const timeout = (options.connectTimeout > 0 ? options.connectTimeout : 300) * 1000;
    return new Agent({
      ...(options.connections > 0 ? { connections: options.connections } : {}),
      allowH2: true,
      // Requests in flight on one connection. Over HTTP/2 (offered only with TLS) they are
      // streams. Over HTTP/1.1 two are pipelined (GET and HEAD only): the next request is on
      // the wire while the server works on this one, and it carries the ACK the server's
      // second write would otherwise wait for (delayed ACK against Nagle: ~40 ms a request).
      // Measured against the 100 ms server of ../shared/bench: 1,054 narinfos over 25
      // connections in 6.2 s without, 4.5 s with (the floor is 4.2 s).
      pipelining: base.startsWith('https://') ? 100 : 2,
      keepAliveTimeout: 30_000,
      connect: { timeout },
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
  }

  private url(name: string): string {
    return `${this.base}/${name}`;
  }

  /** One GET; transport failures and 5xx become TransientCacheError. */
  private async get(name: string, signal?: AbortSignal): Promise<Dispatcher.ResponseData | undefined> {
    let response: Dispatcher.ResponseData;
    try {
      response = await this.request(this.url(name), { method: 'GET', ...(signal ? { signal } : {}) });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new TransientCacheError(`unable to download '${this.url(name)}': ${(error as Error).message}`);
    }
    if (ABSENT.has(response.statusCode)) {
      await response.body.dump();
      return undefined;
    }
    if (response.statusCode < 200 || response.statusCode >= 300) {
      await response.body.dump();
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
        const chunks: Buffer[] = [];
        let total = 0;
        for await (const chunk of response.body) {
          total += (chunk as Buffer).length;
          if (total > MAX_SMALL_FILE) throw new CacheAccessError(`'${this.url(name)}' is larger than ${MAX_SMALL_FILE} bytes, too large for a narinfo`);
          chunks.push(chunk as Buffer);
        }
        return Buffer.concat(chunks);
      } catch (error) {
        if (error instanceof CacheAccessError) throw error;
        if (signal?.aborted) throw error;
        throw new TransientCacheError(`unable to download '${this.url(name)}': ${(error as Error).message}`);
      }
    }, signal);
  }

  /** One attempt: whoever reads the stream starts again after a failure (a NAR is restarted whole). */
  async *streamFile(name: string, signal?: AbortSignal): AsyncIterable<Buffer> {
    const response = await this.get(name, signal);
    if (!response) throw new CacheAccessError(`unable to download '${this.url(name)}': HTTP error 404 (the file is not in the cache)`);
    try {
      for await (const chunk of response.body) yield chunk as Buffer;
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new TransientCacheError(`download of '${this.url(name)}' broke off: ${(error as Error).message}`);
    }
  }

  async hasFile(name: string, signal?: AbortSignal): Promise<boolean> {
    return this.retrying(async () => {
      let response: Dispatcher.ResponseData;
      try {
        response = await this.request(this.url(name), { method: 'HEAD', ...(signal ? { signal } : {}) });
      } catch (error) {
        throw new TransientCacheError(`unable to reach '${this.url(name)}': ${(error as Error).message}`);
      }
      await response.body.dump();
      if (response.statusCode >= 500) throw new TransientCacheError(`unable to reach '${this.url(name)}': HTTP error ${response.statusCode}`);
      return response.statusCode >= 200 && response.statusCode < 300;
    }, signal);
  }

  async putFile(name: string, content: AsyncIterable<Buffer> | Buffer): Promise<void> {
    const body = Buffer.isBuffer(content) ? content : Buffer.concat(await collect(content));
    const response = await this.request(this.url(name), { method: 'PUT', body });
    await response.body.dump();
    if (response.statusCode < 200 || response.statusCode >= 300) {
      throw new CacheAccessError(`unable to upload '${this.url(name)}': HTTP error ${response.statusCode}`);
    }
  }

  async close(): Promise<void> {
    if (this.agent) await (await this.agent).close();
  }
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const all: Buffer[] = [];
  for await (const chunk of chunks) all.push(chunk);
  return all;
}
