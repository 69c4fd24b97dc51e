// Bundles the browser client (src/client, one concept per module) into the two files the public
// listener serves: dist/client/qrelay-login.js, one ES module with no imports (a site may copy it),
// and dist/client/qrelay-login.d.ts, the declarations tsc emitted for the modules index.ts
// re-exports, joined into one file. Run by `npm run build` after tsc -b has checked the client and
// emitted those declarations into dist/client/types.
//
// A file is written only when its content changed, so a build with no client change leaves both
// files (and their mtimes) alone. The build fails when the declarations and the module do not
// export the same values: a page's types must describe the file it loads.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const SRC = new URL('../src/client/', import.meta.url);
const OUT = new URL('../dist/client/', import.meta.url);
const HEADER =
  "// qrelay's browser client: <qrelay-login> and createLogin(). Types: /qrelay-login.d.ts; source:\n" +
  '// src/client in the qrelay repository (bundled from several modules into this one).\n';

function writeIfChanged(name, text) {
  const file = new URL(name, OUT);
  let old;
  try {
    old = readFileSync(file, 'utf8');
  } catch {
    // not built yet
  }
  if (old !== text) writeFileSync(file, text);
}

const bundled = await build({
  entryPoints: [new URL('index.ts', SRC).pathname],
  outfile: new URL('qrelay-login.js', OUT).pathname,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  banner: { js: HEADER },
  metafile: true,
  write: false,
  logLevel: 'warning',
});
const [js] = bundled.outputFiles;
const jsExports = Object.values(bundled.metafile.outputs)[0].exports;

// The modules index.ts re-exports, in its order; their declarations reference one another only
// through the imports dropped here, so joined they declare the same names in one scope.
const index = readFileSync(new URL('index.ts', SRC), 'utf8');
const modules = [...new Set([...index.matchAll(/^export .* from '\.\/([\w-]+)\.js';$/gm)].map((m) => m[1]))];
const dts =
  HEADER +
  modules
    .map((name) =>
      readFileSync(new URL(`types/${name}.d.ts`, OUT), 'utf8')
        .split('\n')
        .filter((line) => !/^import .* from '\.\/[\w-]+\.js';$/.test(line) && line !== 'export {};')
        .join('\n'),
    )
    .join('\n');
const dtsExports = [...dts.matchAll(/^export declare (?:function|class|const|let) (\w+)/gm)].map((m) => m[1]);
if ([...dtsExports].sort().join() !== [...jsExports].sort().join()) {
  throw new Error(`qrelay-login.d.ts declares ${dtsExports.join(', ')} but qrelay-login.js exports ${jsExports.join(', ')}`);
}

mkdirSync(OUT, { recursive: true });
writeIfChanged('qrelay-login.js', js.text);
writeIfChanged('qrelay-login.d.ts', dts);
