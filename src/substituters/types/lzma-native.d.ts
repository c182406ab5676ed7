/** The part of lzma-native (which ships no typings) that compression.ts uses. */
declare module 'lzma-native' {
  import type { Transform } from 'node:stream';

  interface LzmaStreamOptions {
    /** xz preset 0..9 for encoders. */
    preset?: number;
    /** Decoder flags, e.g. `CONCATENATED`. */
    flags?: number;
    /** Decoder memory limit in bytes; none when absent. */
    memlimit?: number;
  }

  interface LzmaNative {
    /** `coder` is a method name of lzma-native's Stream: 'easyEncoder', 'streamDecoder', ... */
    createStream(coder: 'easyEncoder' | 'streamDecoder', options?: LzmaStreamOptions): Transform;
    /** liblzma's LZMA_CONCATENATED: decode every .xz stream of the input, one after another. */
    readonly CONCATENATED: number;
  }

  const lzma: LzmaNative;
  export default lzma;
}
