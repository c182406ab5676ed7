/**
 * tsnix-daemon: serves the store to Nix clients over the worker protocol, on
 * `STATE/daemon-socket/socket` (or `$NIX_DAEMON_SOCKET_PATH`), or on stdin/stdout with
 * `--stdio` (one connection, as `ssh-ng://` runs `nix-daemon --stdio`).
 *
 *   tsnix-daemon [--store ROOT] [--option NAME VALUE]... [--stdio]
 */
import { loadSettings } from './loadSettings.js';
import { openStoreForCli } from './openStore.js';
import { warn } from './output.js';

class DaemonUsageError extends Error {
  override name = 'DaemonUsageError';
}

interface DaemonArgs {
  store?: string;
  options: [string, string][];
  stdio: boolean;
}

function parseDaemonArgs(argv: string[]): DaemonArgs {
  const args: DaemonArgs = { options: [], stdio: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--stdio') args.stdio = true;
    else if (arg === '--store' && i + 1 < argv.length) args.store = argv[++i];
    else if (arg === '--option' && i + 2 < argv.length) args.options.push([argv[++i]!, argv[++i]!]);
    else if (arg === '--daemon') continue; // nix-daemon's default mode, accepted for scripts
    else throw new DaemonUsageError(`unknown flag '${arg}'`);
  }
  return args;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

export async function main(argv: string[]): Promise<void> {
  // bin/tsnix-daemon kept NODE_EXTRA_CA_CERTS from Node's start, as bin/tsnix-store does.
  const extraCertificates = process.env['TSNIX_EXTRA_CA_CERTS'];
  if (extraCertificates !== undefined && process.env['NODE_EXTRA_CA_CERTS'] === undefined) process.env['NODE_EXTRA_CA_CERTS'] = extraCertificates;
  try {
    const args = parseDaemonArgs(argv);
    const settings = loadSettings(args.options, warn);
    const store = await openStoreForCli(args.store, settings);
    const { listenDaemon, remoteBuildersOf, serveConnection } = await import('../daemon/server.js');
    if (args.stdio) {
      const remote = remoteBuildersOf(store);
      await serveConnection(process.stdin, process.stdout, store, log, remote ? { remote } : {});
      await remote?.close();
      await store.close();
      return;
    }
    const socketPath = process.env['NIX_DAEMON_SOCKET_PATH'] ?? store.layout.daemonSocketPath;
    const daemon = await listenDaemon({ store, socketPath, log });
    log(`tsnix-daemon: listening on '${socketPath}'`);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        // Running builds are stopped and cleaned up first: no builder or build directory outlives the daemon.
        void daemon
          .stop()
          .then(() => store.close())
          .finally(() => process.exit(0));
      });
    }
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    if (e instanceof DaemonUsageError) process.stderr.write('Usage: tsnix-daemon [--store ROOT] [--option NAME VALUE]... [--stdio]\n');
    process.exitCode = 1;
  }
}
