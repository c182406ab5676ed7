import { FormatError } from '../errors.js';

/** Two on-disk names that the case hack maps to the same NAR name. */
export class CaseHackCollisionError extends FormatError {
  override name = 'CaseHackCollisionError';
}
