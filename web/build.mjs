// Bundles the conference page (web/src) with mediasoup-client into server/static/, which the
// Python server serves at GET / and /static/*. Run by the set-up (`make web`) after `npm ci`;
// `node build.mjs --check` exits 1 when server/static/ is missing or older than the sources.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const out = join(here, '..', 'server', 'static');
const outputs = ['index.html', 'app.js', 'app.css'].map((name) => join(out, name));

function newestSource() {
  const files = [
    join(here, 'build.mjs'),
    join(here, 'package-lock.json'),
    ...readdirSync(src).map((name) => join(src, name)),
  ];
  return Math.max(...files.map((file) => statSync(file).mtimeMs));
}

if (process.argv.includes('--check')) {
  const stale =
    outputs.some((file) => !existsSync(file)) ||
    Math.min(...outputs.map((file) => statSync(file).mtimeMs)) < newestSource();
  process.exit(stale ? 1 : 0);
}

mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(src, 'main.js') },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome111', 'firefox115', 'safari16'],
  legalComments: 'eof',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});
copyFileSync(join(src, 'index.html'), join(out, 'index.html'));
console.log(`[web] built ${outputs.map((f) => f.slice(out.length + 1)).join(', ')} into server/static/`);
