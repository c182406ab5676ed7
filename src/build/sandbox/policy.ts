/** Decisions a build's settings make: sandbox or not, which build user, which store paths, which network. */
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { acquireBuildUser, type BuildUser } from './buildUsers.js';
import { SandboxPolicyError } from './errors.js';
import { storePathOf } from './layout.js';
import type { SandboxSettings } from './settings.js';
import type { NetworkMode } from './spec.js';
import type { SandboxBuildRequest, SandboxDerivation } from './types.js';

export function findPasta(): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(':').filter((d) => d !== ''), '/usr/bin', '/usr/sbin', '/bin'];
  return dirs.map((dir) => join(dir, 'pasta')).find((path) => existsSync(path));
}

/** pasta needs the tun device; some machines keep it 0600, out of reach of a user without root. */
function tunUsable(): boolean {
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EACCES' || (error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

export function shouldSandbox(drv: SandboxDerivation, settings: SandboxSettings): boolean {
  if (settings.sandbox === 'false') return false;
  if (drv.env['__noChroot'] !== '1') return true;
  if (settings.sandbox === 'relaxed') return false;
  throw new SandboxPolicyError(
    `derivation '${drv.drvPath ?? drv.name}' has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'`,
  );
}

/** Nix's lock directory for build users (`/nix/var/nix/userpool`). */
export const DEFAULT_USER_POOL_DIR = '/nix/var/nix/userpool';

export function chooseBuildUser(request: SandboxBuildRequest): BuildUser {
  const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  if (self.uid !== 0 || request.settings.buildUsersGroup === '') {
    return { ...self, name: String(self.uid), release: () => undefined };
  }
  // Build users are a resource of the machine, not of one store or one build directory: by
  // default every process, tsnix's and nix's (which flocks the same `userpool/<uid>` files),
  // shares Nix's own pool, so no two builds ever run as one uid at once.
  const pool = request.userPoolDir ?? DEFAULT_USER_POOL_DIR;
  return acquireBuildUser(request.settings.buildUsersGroup, pool);
}

export async function storePathsToBind(request: SandboxBuildRequest): Promise<Set<string>> {
  const paths = new Set(request.inputPaths);
  const fromSettings = [...request.settings.sandboxPaths, ...request.settings.extraSandboxPaths]
    .map((entry) => storePathOf(request.storeDir, entry.replace(/\?$/, '').split('=').pop() ?? ''))
    .filter((path): path is string => path !== undefined);
  if (fromSettings.length > 0) {
    if (!request.closureOf) throw new SandboxPolicyError(`'sandbox-paths' names store paths but no store was given to compute their closure`);
    for (const path of await request.closureOf(fromSettings)) paths.add(path);
  }
  return paths;
}

export function networkFor(request: SandboxBuildRequest): { network: NetworkMode; pasta?: string } {
  if (!request.drv.isFixedOutput) return { network: 'private' };
  const pasta = request.pasta === null ? undefined : (request.pasta ?? findPasta());
  if (pasta && tunUsable()) return { network: 'pasta', pasta };
  if (pasta) {
    request.onWarning?.(
      `'/dev/net/tun' cannot be opened by this user, so 'pasta' cannot give the fixed-output derivation '${request.drv.drvPath ?? request.drv.name}' its own network; it uses the host's network, as Nix's fixed-output builds do`,
    );
    return { network: 'host' };
  }
  request.onWarning?.(
    `'pasta' was not found; the fixed-output derivation '${request.drv.drvPath ?? request.drv.name}' uses the host's network`,
  );
  return { network: 'host' };
}
