// Builds one platform-specific .vsix per platform Dawn ships a binding for (VS Code's convention for native code:
// each user's VS Code installs the package of its own platform), each carrying only that platform's dawn.node.
//   npm run package:targets                         all six
//   npm run package:targets -- linux-x64 win32-x64  those named
// Each runs `npm run package -- --target T` with ULPT_VSIX_TARGET=T, which esbuild.mjs (vscode:prepublish) reads
// to copy node_modules/webgpu/dist/<T's folder>/ to dist/dawn/.
import { spawnSync } from 'node:child_process';

const TARGETS = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win32-x64', 'win32-arm64'];
const wanted = process.argv.length > 2 ? process.argv.slice(2) : TARGETS;
for (const target of wanted) {
  if (!TARGETS.includes(target)) {
    console.error(`package-targets: unknown target "${target}"; Dawn ships bindings for ${TARGETS.join(', ')}.`);
    process.exit(2);
  }
  const res = spawnSync('npm', ['run', 'package', '--', '--target', target], {
    stdio: 'inherit', env: { ...process.env, ULPT_VSIX_TARGET: target }, shell: process.platform === 'win32',
  });
  if (res.status !== 0) process.exit(res.status ?? 1);
}
