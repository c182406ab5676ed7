/** Errors of the build sandbox. Messages follow Nix's wording where Nix has one. */

export class SandboxError extends Error {
  override name = 'SandboxError';
}

/** The helper could not set the sandbox up; the builder never ran. */
export class SandboxSetupError extends SandboxError {
  override name = 'SandboxSetupError';
}

/** A derivation or setting the sandbox refuses (e.g. `__noChroot` with `sandbox = true`). */
export class SandboxPolicyError extends SandboxError {
  override name = 'SandboxPolicyError';
}
