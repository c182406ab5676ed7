/**
 * The entry point of `tsnix-store`, bundled with everything it imports into one file
 * (dist/tsnix-store.mjs) by `make`: one file to read instead of ~150 modules to resolve and
 * load, ~45 ms of every command's start.
 */
import { main } from './tsnix-store.js';

void main(process.argv.slice(2));
