/** tsnix-store: nix-store's operations on a tsnix/Nix local store. */
import { parseArgs, UsageError, type ParsedArgs } from './args.js';
import { loadSettings } from './loadSettings.js';
import { warn } from './output.js';
import type { Settings } from '../store/settings.js';

async function dispatch(parsed: ParsedArgs, settings: Settings): Promise<number> {
  // Operations load only what they need: a `--dump` should not pay for opening SQLite.
  switch (parsed.operation) {
    case 'version':
      (await import('./ops/help.js')).opVersion();
      return 0;
    case 'help':
      (await import('./ops/help.js')).opHelp();
      return 0;
    case 'dump':
      await (await import('./ops/dump.js')).opDump(parsed.args, settings);
      return 0;
    case 'restore':
      await (await import('./ops/restore.js')).opRestore(parsed.args, settings);
      return 0;
    case 'print-fixed-path':
      (await import('./ops/printFixedPath.js')).opPrintFixedPath(parsed);
      return 0;
    case 'generate-binary-cache-key':
      (await import('./ops/generateKey.js')).opGenerateBinaryCacheKey(parsed.args);
      return 0;
    default:
      break;
  }
  const { openStoreForCli } = await import('./openStore.js');
  const store = await openStoreForCli(parsed.store, settings);
  try {
    switch (parsed.operation) {
      case 'add':
      case 'add-fixed':
        await (await import('./ops/add.js')).opAdd(store, parsed);
        return 0;
      case 'query':
        return await (await import('./ops/query.js')).opQuery(store, parsed);
      case 'export':
        await (await import('./ops/exportImport.js')).opExport(store, parsed.args);
        return 0;
      case 'import':
        await (await import('./ops/exportImport.js')).opImport(store);
        return 0;
      case 'verify':
        return await (await import('./ops/verify.js')).opVerify(store, parsed);
      case 'verify-path':
        return await (await import('./ops/verify.js')).opVerifyPath(store, parsed.args);
      case 'check-validity':
        return await (await import('./ops/verify.js')).opCheckValidity(store, parsed);
      case 'realise':
        return await (await import('./ops/realise.js')).opRealise(store, parsed);
      case 'repair-path':
        return await (await import('./ops/realise.js')).opRepairPath(store, parsed);
      case 'add-drv':
        return await (await import('./ops/addDrv.js')).opAddDrv(store, parsed);
      case 'copy-to':
        return await (await import('./ops/copyTo.js')).opCopyTo(store, parsed);
      case 'copy-from':
        return await (await import('./ops/copyTo.js')).opCopyFrom(store, parsed);
      case 'gc':
        return await (await import('./ops/gc.js')).opGC(store, parsed);
      case 'delete':
        return await (await import('./ops/gc.js')).opDelete(store, parsed);
      case 'optimise':
        return await (await import('./ops/optimise.js')).opOptimise(store);
      case 'serve':
        return await (await import('./ops/serve.js')).opServe(store, parsed);
      case 'read-log':
        return await (await import('./ops/readLog.js')).opReadLog(store, parsed);
      default:
        throw new UsageError(`operation --${parsed.operation} is not supported`);
    }
  } finally {
    await store.close();
    await (await import('../pool/pool.js')).closePool();
  }
}

/** Node's errno messages (`ENOENT: no such file or directory, lstat '/x'`) in nix's words. */
function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const errno = e as NodeJS.ErrnoException;
  if (typeof errno.code === 'string' && typeof errno.syscall === 'string' && errno.path !== undefined) {
    const reason = e.message.replace(/^[A-Z]+: /, '').replace(/, [a-z_]+ '.*'$/, '');
    const what = errno.syscall === 'lstat' || errno.syscall === 'stat' ? 'getting status of' : `${errno.syscall} of`;
    return `${what} '${errno.path}': ${reason.charAt(0).toUpperCase()}${reason.slice(1)}`;
  }
  return e.message;
}

/**
 * On Ctrl-C and friends, remove this process's unfinished temporary directories in the
 * store before dying, as nix does; nothing half-made is ever valid, so that is all there is.
 */
function cleanUpOnSignals(): void {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.once(signal, () => {
      void import('../store/tempPath.js').then((m) => {
        m.removeLiveTempDirs();
        process.exit(code);
      });
    });
  }
}

export async function main(argv: string[]): Promise<void> {
  // bin/tsnix-store kept NODE_EXTRA_CA_CERTS from Node's start (see there); the processes
  // tsnix starts see it as it was.
  const extraCertificates = process.env['TSNIX_EXTRA_CA_CERTS'];
  if (extraCertificates !== undefined && process.env['NODE_EXTRA_CA_CERTS'] === undefined) process.env['NODE_EXTRA_CA_CERTS'] = extraCertificates;
  cleanUpOnSignals();
  try {
    const parsed = parseArgs(argv);
    const settings = loadSettings(parsed.options, warn);
    // Failure until dispatch says otherwise: should the event loop ever run dry while an
    // operation still awaits something, the process must not end with status 0.
    process.exitCode = 1;
    process.exitCode = await dispatch(parsed, settings);
  } catch (e) {
    process.stderr.write(`error: ${describeError(e)}\n`);
    if (e instanceof UsageError) process.stderr.write("Try 'tsnix-store --help' for more information.\n");
    if (process.env['TSNIX_DEBUG'] && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  }
}
