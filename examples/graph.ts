/**
 * An example graph of eleven derivations written with the derivation API: a fixed-output
 * "source", a library with two outputs, a diamond (libbase -> liba, libb -> app) and a chain
 * down to a release. Every builder is a static busybox running a short script; each output
 * is a few small text files that name their inputs' outputs, so the outputs have references.
 */
import { derivation, outputOf, type DerivationHandle, type DerivationInput } from '../src/build/derivationApi.js';
import { hashBytes } from '../src/format/hash.js';
import { DEFAULT_STORE_DIR } from '../src/format/storePath.js';

export interface ExampleGraph {
  /** What a user asks to build: nothing else depends on these. */
  top: DerivationHandle[];
  /** Every derivation by its name. */
  byName: Map<string, DerivationHandle>;
}

/** What the fixed-output derivation writes; its hash is known in advance, as a fetcher's is. */
const SOURCE_TEXT = 'tsnix example source, version 1\nhello from a fixed-output derivation\n';

/**
 * `busybox` is the store path of a directory holding `bin/busybox` (a static busybox); its
 * `sh` runs the scripts, and finds applets (cat, mkdir, …) without a PATH.
 */
export function exampleGraph(busybox: string, storeDir = DEFAULT_STORE_DIR): ExampleGraph {
  const byName = new Map<string, DerivationHandle>();
  const make = (
    name: string,
    script: string,
    inputs: Record<string, DerivationInput>,
    extra: { outputs?: string[]; outputHash?: string } = {},
  ): DerivationHandle => {
    const env: Record<string, string> = {};
    for (const [variable, input] of Object.entries(inputs)) {
      env[variable] = typeof input === 'string' ? input : 'drvPath' in input ? input.out : input.path;
    }
    const handle = derivation(
      {
        name,
        builder: `${busybox}/bin/busybox`,
        args: ['sh', '-e', '-c', script],
        env,
        inputs: [busybox, ...Object.values(inputs)],
        ...extra,
      },
      storeDir,
    );
    byName.set(name, handle);
    return handle;
  };

  // A fixed-output derivation: its output path depends only on the hash of what it writes.
  const source = derivation(
    {
      name: 'example-source',
      builder: `${busybox}/bin/busybox`,
      args: ['sh', '-e', '-c', 'printf "%s" "$content" > $out'],
      env: { content: SOURCE_TEXT },
      inputs: [busybox],
      outputHash: hashBytes('sha256', SOURCE_TEXT).toSRI(),
    },
    storeDir,
  );
  byName.set(source.name, source);

  const config = make('example-config', 'mkdir -p $out/etc; echo greeting=hello > $out/etc/example.conf', {});

  const libbase = make(
    'libbase',
    [
      'mkdir -p $out/lib $dev/include',
      '{ echo "libbase, built from $src"; cat $src; } > $out/lib/libbase.txt',
      'echo "#define LIBBASE \\"$out/lib/libbase.txt\\"" > $dev/include/base.h',
    ].join('\n'),
    { src: source },
    { outputs: ['out', 'dev'] },
  );

  const liba = make(
    'liba',
    'mkdir -p $out/lib; { echo "liba uses $base"; cat $baseDev/include/base.h; } > $out/lib/liba.txt',
    { base: libbase, baseDev: outputOf(libbase, 'dev') },
  );
  const libb = make(
    'libb',
    'mkdir -p $out/lib; echo "libb links $base/lib/libbase.txt ($(wc -l < $base/lib/libbase.txt) lines)" > $out/lib/libb.txt',
    { base: libbase },
  );

  const app = make(
    'example-app',
    [
      'mkdir -p $out/bin',
      'printf "#!/bin/sh\\necho app using %s and %s\\n" $liba $libb > $out/bin/app',
      'chmod +x $out/bin/app',
      'ln -s $config/etc/example.conf $out/app.conf',
    ].join('\n'),
    { liba, libb, config },
  );

  const docs = make('example-docs', 'mkdir -p $out/share/doc; echo "documentation of $app" > $out/share/doc/README', { app });
  const bundle = make('example-bundle', 'mkdir -p $out; ln -s $app $out/app; ln -s $docs $out/docs', { app, docs });
  const tests = make(
    'example-tests',
    'grep -q LIBBASE $baseDev/include/base.h; test -x $app/bin/app; echo "tests of $app passed" > $out',
    { app, baseDev: outputOf(libbase, 'dev') },
  );
  const release = make('example-release', 'mkdir -p $out; echo $bundle > $out/bundle; { echo "report of $tests:"; cat $tests; } > $out/test-report', { bundle, tests });
  const devEnv = make(
    'example-dev-env',
    'mkdir -p $out; echo "CFLAGS=-I$baseDev/include" > $out/env.sh; ln -s $config $out/config',
    { baseDev: outputOf(libbase, 'dev'), config },
  );

  return { top: [release, devEnv], byName };
}
