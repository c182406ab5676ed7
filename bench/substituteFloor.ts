/**
 * The floor of the substitution benchmark's query phase: what the server itself allows a
 * client that does no work at all. This client knows every narinfo's references before it
 * starts (read from the cache directory), so it parses nothing, checks nothing and writes
 * nothing; it only keeps the rule every real client must keep: a path is asked for once the
 * answer naming it has arrived (and nix-cache-info goes out with the first narinfo). What it
 * measures is the server's round trips, its own overhead under that many requests at once, and
 * the closure's depth: no client can be faster, so a goal below it cannot be met on this server.
 * Node's start and a real command's set-up come on top for any real client.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { join } from 'node:path';
import { Agent, buildConnector, request } from 'undici';
import { acknowledgeAtOnce } from '../src/substituters/quickAck.js';

/** References by narinfo name (`<hashpart>.narinfo`), from a binary cache directory. */
export function narInfoGraph(cacheDir: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const name of readdirSync(cacheDir)) {
    if (!name.endsWith('.narinfo')) continue;
    const references = /^References: ?(.*)$/m.exec(readFileSync(join(cacheDir, name), 'utf8'))?.[1] ?? '';
    graph.set(
      name,
      references
        .split(' ')
        .filter((r) => r !== '')
        .map((r) => `${r.slice(0, 32)}.narinfo`),
    );
  }
  return graph;
}

type Get = (name: string) => Promise<void>;

/** Walks the closure of `top` as answers arrive; resolves with the seconds from the first request to the last answer. */
async function walk(graph: Map<string, string[]>, top: string, get: Get): Promise<number> {
  const start = process.hrtime.bigint();
  const seen = new Set<string>([top]);
  const visit = async (name: string): Promise<void> => {
    await get(name);
    const next = (graph.get(name) ?? []).filter((r) => !seen.has(r));
    for (const r of next) seen.add(r);
    await Promise.all(next.map(visit));
  };
  await Promise.all([get('nix-cache-info'), visit(top)]);
  if (seen.size !== graph.size) throw new Error(`floor walk reached ${seen.size} of ${graph.size} narinfos`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * The closure's query over HTTP/1.1, one request at a time on each of at most `connections`
 * connections, acknowledging at once as tsnix does (quickAck.ts): else every answer of the
 * Python server waits 40 ms more for a delayed ACK, and the floor would be no floor.
 */
export async function http1Floor(graph: Map<string, string[]>, top: string, base: string, connections: number): Promise<number> {
  const connectTo = buildConnector({});
  const connect: buildConnector.connector = (options, callback) =>
    connectTo(options, (error, socket) => {
      if (error || !socket) callback(error ?? new Error('no socket'), null);
      else {
        acknowledgeAtOnce(socket);
        callback(null, socket);
      }
    });
  const agent = new Agent({ connections, pipelining: 1, connect });
  try {
    return await walk(graph, top, async (name) => {
      const response = await request(`${base}/${name}`, { dispatcher: agent });
      await response.body.arrayBuffer();
      if (response.statusCode !== 200) throw new Error(`floor client: ${name}: HTTP ${response.statusCode}`);
    });
  } finally {
    await agent.close();
  }
}

/** The closure's query over one HTTP/2 connection, every request a stream. */
export async function http2Floor(graph: Map<string, string[]>, top: string, base: string, ca: Buffer): Promise<number> {
  const session = http2Connect(base, { ca });
  await new Promise<void>((resolve, reject) => session.once('connect', () => resolve()).once('error', reject));
  try {
    return await walk(
      graph,
      top,
      (name) =>
        new Promise<void>((resolve, reject) => {
          const stream = session.request({ ':path': `${new URL(base).pathname.replace(/\/$/, '')}/${name}` });
          stream.once('response', (headers) => {
            if (headers[':status'] !== 200) reject(new Error(`floor client: ${name}: HTTP ${headers[':status']}`));
          });
          stream.on('data', () => {});
          stream.once('end', () => resolve());
          stream.once('error', reject);
        }),
    );
  } finally {
    session.close();
  }
}
