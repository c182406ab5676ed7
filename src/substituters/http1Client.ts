/**
 * HTTP/1.1 (and HTTPS without HTTP/2) through undici: kept-alive connections bounded by
 * `http-connections`, one request at a time on each, downloads ahead of narinfos.
 */
import { createRequire } from 'node:module';
import type { Agent, Dispatcher, buildConnector } from 'undici';
import type { HttpClient, HttpClientOptions, HttpRequestOptions, HttpResponse } from './httpClient.js';
import { acknowledgeAtOnce } from './quickAck.js';

type AgentClass = typeof Agent;
type RequestFunction = (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

/**
 * Only undici's agent and its request function are loaded, not its index: the index pulls in
 * fetch, WebSocket, the mock and cache layers, ~45 ms more of every command that asks a cache.
 * The version is pinned by the lock file; the HTTP tests cover these two paths.
 */
interface Undici {
  Agent: AgentClass;
  request: RequestFunction;
  buildConnector: typeof buildConnector;
}
let loaded: Undici | undefined;
function undici(): Undici {
  if (!loaded) {
    const require = createRequire(import.meta.url);
    loaded = {
      Agent: require('undici/lib/dispatcher/agent.js') as AgentClass,
      request: require('undici/lib/api/api-request.js') as RequestFunction,
      buildConnector: require('undici/lib/core/connect.js') as typeof buildConnector,
    };
  }
  return loaded;
}

/**
 * Requests in flight on one connection (undici's `pipelining`). One: a download pipelined
 * behind a narinfo waits out the narinfo's round trip as well, so during a closure's query
 * -j16 got ~8 downloads' worth of connections out of 16 (full substitution of the 1,054-path
 * benchmark: 10.4 s with two, 9.5 s with one). The query alone measured the same either way
 * (4.6-4.7 s): with immediate ACKs (quickAck.ts) a second request on the wire gains nothing.
 */
const PIPELINING = 1;

/** A request waiting for a place. */
interface Waiter {
  admit(): void;
  refuse(reason: unknown): void;
  signal: AbortSignal | undefined;
}

/**
 * Who goes next when every connection is taken. undici queues in arrival order, so while a
 * closure's narinfos are asked (hundreds at once) a NAR download waits behind all of them,
 * and the downloads run only after the last narinfo, each kind leaving connections idle in
 * its turn (-j16 uses 16 of 25). Urgent requests (downloads) go first here instead; undici is
 * handed only as many as its connections take at once.
 */
class RequestGate {
  private running = 0;
  private readonly urgent: Waiter[] = [];
  private readonly normal: Waiter[] = [];
  /**
   * Signals listened to, one listener each: a closure's narinfos share one signal, and a
   * listener per waiting request would be hundreds on it (and Node's leak warning).
   */
  private readonly watched = new WeakSet<AbortSignal>();

  constructor(private readonly capacity: number) {}

  /**
   * Resolves when the request may go; the caller calls `release` once its response is done.
   * A request whose signal aborts while it waits leaves the queue at once, refused with the
   * signal's reason (else it would wait for its turn, and then cost undici a connection).
   */
  enter(urgent: boolean, signal: AbortSignal | undefined): Promise<void> | undefined {
    if (this.running < this.capacity) {
      this.running++;
      return undefined;
    }
    return new Promise((admit, refuse) => {
      (urgent ? this.urgent : this.normal).push({ admit, refuse, signal });
      if (signal && !this.watched.has(signal)) {
        this.watched.add(signal);
        signal.addEventListener('abort', () => this.drop(signal), { once: true });
      }
    });
  }

  /** Hands the place on to the next waiting request, urgent ones first. */
  release(): void {
    const next = this.urgent.shift() ?? this.normal.shift();
    if (next) next.admit();
    else this.running--;
  }

  private drop(signal: AbortSignal): void {
    for (const queue of [this.urgent, this.normal]) {
      for (let i = queue.length - 1; i >= 0; i--) {
        if (queue[i]!.signal === signal) queue.splice(i, 1)[0]!.refuse(signal.reason);
      }
    }
  }
}

export class Http1Client implements HttpClient {
  private constructor(
    private readonly origin: string,
    private readonly agent: Agent,
    /** Absent when `http-connections` is 0 (no limit): nothing queues then. */
    private readonly gate: RequestGate | undefined,
  ) {}

  static create(origin: URL, options: HttpClientOptions): Http1Client {
    const { Agent, buildConnector } = undici();
    const connectTo = buildConnector({ timeout: options.timeout, ...(options.ca ? { ca: options.ca } : {}) });
    // undici's own connector, with every connection acknowledging at once (quickAck.ts); a
    // TLS socket's handle has the TCP descriptor too.
    const connect: buildConnector.connector = (connectOptions, callback) =>
      connectTo(connectOptions, (error, socket) => {
        if (!error && socket) acknowledgeAtOnce(socket);
        if (error) callback(error, null);
        else callback(null, socket!);
      });
    const agent = new Agent({
      ...(options.connections > 0 ? { connections: options.connections } : {}),
      pipelining: PIPELINING,
      keepAliveTimeout: 30_000,
      connect,
      headersTimeout: options.timeout,
      bodyTimeout: options.timeout,
    });
    return new Http1Client(origin.origin, agent, options.connections > 0 ? new RequestGate(options.connections * PIPELINING) : undefined);
  }

  async request(path: string, options: HttpRequestOptions): Promise<HttpResponse> {
    const { request } = undici();
    const gate = this.gate;
    if (options.signal?.aborted) throw options.signal.reason;
    if (gate) {
      const waiting = gate.enter(options.urgent ?? false, options.signal);
      if (waiting) await waiting;
    }
    let response: Dispatcher.ResponseData;
    try {
      response = await request.call(this.agent, {
        origin: this.origin,
        path,
        method: options.method,
        ...(options.body ? { body: options.body } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      gate?.release();
      throw error;
    }
    if (gate) {
      // The place is held until the body is read (or dropped): only then is the connection free.
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        gate.release();
      };
      response.body.once('close', release);
      response.body.once('end', release);
      response.body.once('error', release);
    }
    return {
      statusCode: response.statusCode,
      headers: response.headers,
      body: response.body,
      dump: async () => {
        await response.body.dump();
      },
    };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
