/**
 * HTTP/1.1 (and HTTPS without HTTP/2) through undici: kept-alive connections bounded by
 * `http-connections`, two requests pipelined on each.
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

export class Http1Client implements HttpClient {
  private constructor(
    private readonly origin: string,
    private readonly agent: Agent,
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
      // Two requests in flight on one connection (GET and HEAD only): the next is on the wire
      // while the server works on this one, and it carries the ACK that a server writing its
      // headers and body separately would otherwise wait for (delayed ACK against Nagle,
      // ~40 ms an answer). Measured against the 100 ms server of ../shared/bench: 1,054
      // narinfos over 25 connections in 6.2 s without, 4.5 s with (the floor is 4.2 s).
      pipelining: 2,
      keepAliveTimeout: 30_000,
      connect,
      headersTimeout: options.timeout,
      bodyTimeout: options.timeout,
    });
    return new Http1Client(origin.origin, agent);
  }

  async request(path: string, options: HttpRequestOptions): Promise<HttpResponse> {
    const { request } = undici();
    const response = await request.call(this.agent, {
      origin: this.origin,
      path,
      method: options.method,
      ...(options.body ? { body: options.body } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
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
