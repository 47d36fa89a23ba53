// Builds every bundle of ULPT Studio.
//   node esbuild.mjs            extension host, trainer and playground processes, CLI (node) + webviews (browser) into dist/
//   node esbuild.mjs --tests    also the test files into out/test/ (one bundle per test file)
//   node esbuild.mjs --only-tests test/unit/a.test.ts …   just those test files (for working on one test)
//   node esbuild.mjs --e2e      also the end-to-end tests (test/e2e, real VS Code + browser) into out/test/e2e/
//   node esbuild.mjs --watch    rebuild on change
//   node esbuild.mjs --integration   also the @vscode/test-electron runner and suite into out/test/integration/
//   node esbuild.mjs --production    minified, no source maps (what `vsce package` builds through vscode:prepublish)
// tfjs-core and its CPU/WASM/WebGPU backends are bundled; the WASM binaries and Dawn's WebGPU binding (dawn.node,
// from the `webgpu` package) are copied beside the bundles. The native tfjs-node packages stay external: they are
// optional and found at run time (src/backend.ts).
//   ULPT_VSIX_TARGET=linux-x64 …   copy the Dawn binding of that VS Code target (platform-specific .vsix, see
//                                  scripts/package-targets.mjs) instead of this machine's
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const args = new Set(process.argv.slice(2));
const production = args.has('--production');
const external = ['vscode', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];

const node = {
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  external,
  // The ES module builds of tfjs: one copy of tfjs-core, whose package.json lists its side-effect files.
  mainFields: ['module', 'main'],
  logLevel: 'warning',
};

function copyWasm(dir) {
  mkdirSync(dir, { recursive: true });
  const src = 'node_modules/@tensorflow/tfjs-backend-wasm/dist';
  for (const f of readdirSync(src)) if (f.endsWith('.wasm')) copyFileSync(join(src, f), join(dir, f));
}

// The data-parallel training worker (worker_threads) is a bundle of its own, beside every bundle that trains.
const worker = { 'train-worker': 'src/train/worker.ts' };
// VS Code's platform targets → the webgpu package's folders (one universal binary serves both Macs). Targets
// without a Dawn build (alpine, armhf, web) get none: webgpu then says it is missing.
const DAWN_DIRS = {
  'linux-x64': 'linux-x64', 'linux-arm64': 'linux-arm64', 'darwin-x64': 'darwin-universal', 'darwin-arm64': 'darwin-universal',
  'win32-x64': 'win32-x64', 'win32-arm64': 'win32-arm64',
};
function copyDawn(dir) {
  const target = process.env.ULPT_VSIX_TARGET || `${process.platform}-${process.arch}`;
  rmSync(join(dir, 'dawn'), { recursive: true, force: true });
  const folder = DAWN_DIRS[target];
  if (!folder) return;
  const src = join('node_modules/webgpu/dist', folder);
  mkdirSync(join(dir, 'dawn', folder), { recursive: true });
  // dawn.node, and on Windows the DirectX shader compilers it loads from its own folder.
  for (const f of readdirSync(src)) copyFileSync(join(src, f), join(dir, 'dawn', folder, f));
}

const builds = [
  { ...node, entryPoints: { cli: 'src/cli.ts', trainer: 'src/process/trainer.ts', tokenize: 'src/process/tokenize.ts', playground: 'src/process/playground.ts', extension: 'extension/extension.ts', ...worker }, outdir: 'dist' },
];
// The webviews: the training panel (dist/webview.js, .css) and the monitor, comparison, inspector and playground
// pages (dist/views/<name>.js, .css).
const webviews = {
  webview: 'webview/panel/main.ts',
  'views/monitor': 'webview/monitor/main.ts',
  'views/compare': 'webview/compare/main.ts',
  'views/inspector': 'webview/inspector/main.ts',
  'views/playground': 'webview/playground/main.ts',
};
const pages = Object.fromEntries(Object.entries(webviews).filter(([, file]) => existsSync(file)));
if (Object.keys(pages).length) {
  builds.push({ bundle: true, platform: 'browser', target: 'es2022', format: 'iife', sourcemap: !production, minify: production,
    entryPoints: pages, outdir: 'dist', logLevel: 'warning' });
}
if (args.has('--bench')) builds.push({ ...node, entryPoints: { bench: 'scripts/bench.ts', 'bench-playground': 'scripts/bench_playground.ts', bench_models: 'scripts/bench_models.ts', ...worker }, outdir: 'out' });
const only = args.has('--only-tests') ? process.argv.slice(2).filter((a) => a.endsWith('.ts')) : null;
if (only) builds.length = 0;
if (args.has('--tests') || only) {
  const tests = only ?? readdirSync('test/unit').filter((f) => f.endsWith('.test.ts')).map((f) => join('test/unit', f));
  if (!only) rmSync('out/test', { recursive: true, force: true });
  builds.push({ ...node, sourcemap: true, entryPoints: tests, outdir: 'out/test/unit' });
  builds.push({ ...node, sourcemap: true, entryPoints: worker, outdir: 'out/test/unit' });
  copyWasm('out/test/unit');
}
if (args.has('--e2e')) {
  // playwright-core stays external: it loads its own files at run time.
  const e2e = readdirSync('test/e2e').filter((f) => f.endsWith('.test.ts')).map((f) => join('test/e2e', f));
  rmSync('out/test/e2e', { recursive: true, force: true });
  builds.push({ ...node, sourcemap: true, external: [...external, 'playwright-core'], entryPoints: e2e, outdir: 'out/test/e2e' });
}
if (args.has('--integration')) {
  // @vscode/test-electron: the runner (node) and the suite the extension host loads (`vscode` stays external).
  rmSync('out/test/integration', { recursive: true, force: true });
  builds.push({ ...node, sourcemap: true, entryPoints: { runTest: 'test/integration/runTest.ts', 'suite/index': 'test/integration/suite/index.ts' }, outdir: 'out/test/integration' });
}
if (!only) {
  copyWasm('dist');
  copyDawn('dist');
  // The training config schema, contributed to VS Code (jsonValidation) from the packaged extension.
  copyFileSync('src/config.schema.json', 'dist/config.schema.json');
}
if (args.has('--bench')) copyWasm('out');
if (args.has('--watch')) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
