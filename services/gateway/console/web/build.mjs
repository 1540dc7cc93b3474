// build.mjs bundles the console into ../dist: app.js (the modules and the parts of
// ECharts they use), app.css and index.html. The output depends only on the sources and
// the locked packages (no timestamps, no absolute paths), so a rebuild of an unchanged
// tree gives the same bytes; `make console-check` relies on that.
//
// Usage: node build.mjs [OUTDIR]
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { en, zh } from './src/strings.js';

const here = dirname(fileURLToPath(import.meta.url));

// Both languages must say everything: a key in one dictionary only fails the build.
const missing = [
  ...Object.keys(en).filter((k) => !(k in zh)).map((k) => 'zh lacks ' + k),
  ...Object.keys(zh).filter((k) => !(k in en)).map((k) => 'en lacks ' + k),
];
if (missing.length) {
  console.error(missing.join('\n'));
  process.exit(1);
}
// The output folder is ../dist unless given: `make console-check` builds elsewhere and
// compares.
const out = process.argv[2] ? resolve(process.argv[2]) : join(here, '..', 'dist');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  absWorkingDir: here,
  entryPoints: ['src/main.js'],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  target: ['es2020'],
  platform: 'browser',
  minify: true,
  charset: 'utf8',
  legalComments: 'eof',
  sourcemap: false,
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) {
  copyFileSync(join(here, 'src', f), join(out, f));
}
