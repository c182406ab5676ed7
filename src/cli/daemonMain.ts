/** The entry point of `tsnix-daemon`, bundled by `make` beside tsnix-store's (dist/bundle/daemonMain.js). */
import { main } from './tsnix-daemon.js';

void main(process.argv.slice(2));
