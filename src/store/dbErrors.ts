/** Errors of the local store database and its locks. Messages follow Nix's wording where it has one. */

export class StoreDbError extends Error {
  override name = 'StoreDbError';
}

/** The database or its `db/schema` file cannot be used (unknown version, corrupt, unwritable). */
export class StoreSchemaError extends StoreDbError {
  override name = 'StoreSchemaError';
}

/** A path that a query or operation needs is not valid (has no `ValidPaths` row). */
export class PathNotValidError extends StoreDbError {
  override name = 'PathNotValidError';
  constructor(readonly path: string) {
    super(`path '${path}' is not valid`);
  }
}

/** A registration was refused; nothing was changed. */
export class RegistrationError extends StoreDbError {
  override name = 'RegistrationError';
}

/** The references of a set of paths form a cycle (only possible between outputs of one build). */
export class ReferenceCycleError extends StoreDbError {
  override name = 'ReferenceCycleError';
  constructor(
    readonly path: string,
    readonly parent: string,
  ) {
    super(`cycle detected in the references of '${path}' from '${parent}'`);
  }
}

/** Invalidation refused because other valid paths still refer to the path. */
export class PathInUseError extends StoreDbError {
  override name = 'PathInUseError';
  constructor(
    readonly path: string,
    readonly referrers: string[],
  ) {
    super(`cannot delete path '${path}' because it is in use by ${referrers.map((r) => `'${r}'`).join(', ')}`);
  }
}

/** A lock file could not be opened, locked or released for a reason other than contention. */
export class LockError extends StoreDbError {
  override name = 'LockError';
}
