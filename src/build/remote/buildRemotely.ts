/**
 * One build on a remote machine, as Nix's build hook does it over the serve protocol: the
 * input closure copied to where it lacks it, BuildDerivation of the derivation with its
 * whole input closure as input sources, then the outputs' NARs fetched back into place
 * (under our output locks), checked as a local build's outputs are (hash as announced,
 * references found by scanning, fixed-output hashes, reference rules) and registered in one
 * transaction. The remote's log arrives on its stderr.
 */
import { drvNameFromPath } from '../../format/derivation/index.js';
import { copyToRemote } from '../../remote/copyPaths.js';
import { ServeClientError, type ServeClient } from '../../remote/serveClient.js';
import { computeClosure } from '../../store/closure.js';
import { deletePathSync } from '../../store/deletePath.js';
import { restorePath } from '../../store/nar/index.js';
import { autoOptimise } from '../../store/optimise.js';
import { registerValidPaths } from '../../store/registerPaths.js';
import type { BuildJob } from '../buildStep.js';
import type { BuildContext } from '../context.js';
import { BuildError, type FailureKind } from '../errors.js';
import { filterLogLine } from '../logFilter.js';
import { prepareOutputs } from '../registerOutputs.js';
import type { MachineLease } from './remoteBuilders.js';

/** The failure kind of a BuildResult status (protocols.md §0). */
function kindOf(status: number): FailureKind {
  if (status === 8) return 'timeout';
  if (status === 5) return 'hashMismatch';
  if (status === 12) return 'checkMismatch';
  if (status === 11) return 'logLimit';
  if (status === 3) return 'build';
  return 'other';
}

const SUCCESS = new Set([0, 1, 2, 13]);

/**
 * Builds `job` on the leased machine; the caller holds the output locks and found the outputs
 * invalid. Throws BuildError for a failed build, ServeClientError for a broken connection.
 */
export async function buildRemotely(ctx: BuildContext, job: BuildJob, lease: MachineLease): Promise<void> {
  const { store } = ctx;
  const { drvPath } = job;
  const uri = lease.machine.uri;
  const inputClosure = computeClosure(store.db, job.inputs);
  let client: ServeClient | undefined;
  // Cancelled (a failure elsewhere, a client gone): the connection goes, and the remote build with it.
  const onAbort = (): void => void client?.close();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  let clean = false;
  let succeeded = false;
  ctx.events.buildStarted(drvPath, drvNameFromPath(drvPath), uri);
  const log = ctx.openLog(drvPath);
  try {
    client = await lease.client();
    ctx.signal.throwIfAborted();
    await copyToRemote(store, client, [...inputClosure], ctx.settings.buildersUseSubstitutes);
    lease.holds(inputClosure);
    client.onStderrLine = (raw) => {
      const text = filterLogLine(raw);
      ctx.events.logLine(drvPath, text);
      log.line(text);
    };
    const basic = { ...job.drv, inputDrvs: new Map<string, string[]>(), inputSrcs: [...inputClosure].sort() };
    const result = await client.buildDerivation(drvPath, basic, {
      maxSilentTime: ctx.settings.sandbox.maxSilentTime,
      buildTimeout: ctx.settings.sandbox.timeout,
      maxLogSize: ctx.settings.sandbox.maxLogSize,
      keepFailed: ctx.settings.keepFailed,
    });
    client.onStderrLine = undefined;
    if (!SUCCESS.has(result.status)) {
      clean = true;
      // Nix formats its messages for a terminal; the colours are not the message.
      const message = result.errorMsg.replace(/\x1b\[[0-9;]*m/g, '');
      throw new BuildError(message || `the build of '${drvPath}' on '${uri}' failed (status ${result.status})`, kindOf(result.status));
    }
    const outputs = [...job.outputs.values()];
    const remoteInfos = await client.queryPathInfos(outputs);
    const locations = new Map<string, string>();
    for (const [name, path] of job.outputs) {
      const announced = remoteInfos.get(path);
      if (!announced) throw new BuildError(`'${uri}' did not produce the output '${path}' of '${drvPath}'`, 'build');
      const real = store.layout.toReal(path);
      deletePathSync(real);
      const { narHash } = await client.dumpStorePath(path, (reader) => restorePath(real, reader, { useCaseHack: store.useCaseHack }));
      if (!narHash.equals(announced.narHash)) {
        throw new BuildError(`hash mismatch in the output '${path}' that '${uri}' sent: it announced ${announced.narHash.format('nix32')}, the NAR has ${narHash.format('nix32')}`, 'build');
      }
      locations.set(name, real);
    }
    clean = true;
    // Checked as if built here: references found by scanning, fixed-output hashes, rules.
    const infos = await prepareOutputs(store, { drvPath, drv: job.drv, outputs: job.outputs, locations, inputClosure });
    await autoOptimise(store, locations.values());
    registerValidPaths(store.db, infos);
    lease.holds(job.outputs.values());
    succeeded = true;
  } catch (error) {
    // Nothing of a failed or refused remote build stays at an output path (none was valid).
    for (const path of job.outputs.values()) deletePathSync(store.layout.toReal(path));
    // A broken connection: the machine is left alone before its slot is free again.
    if (error instanceof ServeClientError && !ctx.signal.aborted) lease.markDown();
    throw error;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    if (client) client.onStderrLine = undefined;
    lease.release(clean && !ctx.signal.aborted);
    ctx.events.buildFinished(drvPath, succeeded);
    ctx.afterBuild(log.close().catch((error: Error) => ctx.events.message(`warning: ${error.message}`)));
  }
}
