/**
 * The entry point of `tsnix-store`, bundled by `make` with everything it imports into
 * dist/bundle/: main.js and a few chunks that each operation loads when it runs, instead of
 * ~150 modules to resolve and load (~45 ms of every command's start).
 */
import { main } from './tsnix-store.js';

void main(process.argv.slice(2));
