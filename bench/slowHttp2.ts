/**
 * The HTTP/2 twin of ../shared/bench/slow_http.py: serves DIR over HTTPS (HTTP/2 only, a
 * self-signed certificate) and waits DELAY seconds before every answer. Its counts (requests,
 * peak concurrent requests, connections, peak connections) are served as JSON on a plain
 * HTTP port: GET /__stats, GET /__reset.
 *
 *   node dist/bench/slowHttp2.js DIR PORT DELAY CERT KEY STATS_PORT
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { constants, createSecureServer } from 'node:http2';
import { join, normalize } from 'node:path';

const [dir, port, delay, cert, key, statsPort] = process.argv.slice(2) as [string, string, string, string, string, string];
const stats = { requests: 0, max_concurrency: 0, connections: 0, max_connections: 0, status404: 0 };
let current = 0;
let open = 0;

const server = createSecureServer({ cert: readFileSync(cert), key: readFileSync(key), allowHTTP1: false, settings: { maxConcurrentStreams: 1000 } });
server.on('session', (session) => {
  stats.connections++;
  open++;
  stats.max_connections = Math.max(stats.max_connections, open);
  session.on('close', () => open--);
});
server.on('stream', (stream, headers) => {
  stats.requests++;
  current++;
  stats.max_concurrency = Math.max(stats.max_concurrency, current);
  const name = decodeURIComponent(String(headers[constants.HTTP2_HEADER_PATH] ?? '/').replace(/^\/+/, '').split('?')[0]!);
  // The file is read while the delay runs, so that the answer leaves at DELAY, not DELAY plus
  // a thread-pool round trip per file (slow_http.py reads in its own thread, ~1 ms).
  const body = readFile(normalize(join(dir, name))).catch(() => undefined);
  setTimeout(() => {
    body
      .then((content) => {
        // A client may have cancelled meanwhile (nix resets streams it no longer wants).
        if (stream.destroyed || stream.closed) return;
        if (content === undefined) {
          stats.status404++;
          stream.respond({ [constants.HTTP2_HEADER_STATUS]: 404 }, { endStream: true });
          return;
        }
        stream.respond({ [constants.HTTP2_HEADER_STATUS]: 200, 'content-length': content.length });
        stream.end(headers[constants.HTTP2_HEADER_METHOD] === 'HEAD' ? undefined : content);
      })
      .catch(() => {
        // The stream went away while answering: nothing to answer.
      })
      .finally(() => current--);
  }, Number(delay) * 1000);
  stream.on('error', () => {});
});
server.listen(Number(port), '127.0.0.1');

createServer((req, res) => {
  if (req.url === '/__reset') Object.assign(stats, { requests: 0, max_concurrency: 0, connections: 0, max_connections: 0, status404: 0 });
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(stats));
}).listen(Number(statsPort), '127.0.0.1');
