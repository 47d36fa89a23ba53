// Runs the integration suite (test/integration/suite) inside a real VS Code, through @vscode/test-electron, on a
// copy of examples/workspace. VS Code is downloaded on first use (into .vscode-test/); on a machine without
// network that download fails, and only that failure is a skip (exit 0): anything after it is a test result.
//   npm run test:integration                  latest stable VS Code
//   VSCODE_VERSION=1.90.0 npm run test:integration
//   VSCODE_EXECUTABLE=/path/to/code npm run test:integration   a VS Code already on disk (no download)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { downloadAndUnzipVSCode, runTests } from '@vscode/test-electron';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Network failures as Node and @vscode/test-electron report them. */
function isNetworkError(e: unknown): boolean {
  const text = `${(e as NodeJS.ErrnoException)?.code ?? ''} ${(e as Error)?.message ?? String(e)}`;
  return /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|getaddrinfo|socket hang up|Failed to get JSON|Failed to download|Failed to get|network|timeout|timed out|status code/i.test(text);
}

/** A throw-away copy of the example workspace, without runs or adapters from earlier sessions. */
function workspaceCopy(): string {
  const src = path.join(ROOT, 'examples', 'workspace');
  const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-integration-'));
  const skip = new Set(['.ulpt', 'adapters']);
  fs.cpSync(src, dest, { recursive: true, filter: (p) => !skip.has(path.relative(src, p).split(path.sep)[0]) });
  return dest;
}

async function main(): Promise<number> {
  let vscodeExecutablePath = process.env.VSCODE_EXECUTABLE;
  if (!vscodeExecutablePath) {
    try {
      vscodeExecutablePath = await downloadAndUnzipVSCode({ version: process.env.VSCODE_VERSION ?? 'stable', cachePath: path.join(ROOT, '.vscode-test'), timeout: 30_000 });
    } catch (e) {
      if (isNetworkError(e)) {
        console.log('VS Code could not be downloaded (no network): integration tests skipped');
        console.log(`  (${(e as Error).message ?? e})`);
        return 0;
      }
      console.error('VS Code could not be installed for the integration tests:', e);
      return 1;
    }
  }
  const workspace = workspaceCopy();
  try {
    await runTests({
      vscodeExecutablePath,
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: path.join(__dirname, 'suite', 'index.js'),
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--skip-welcome', '--skip-release-notes'],
      extensionTestsEnv: { ULPT_INTEGRATION_WORKSPACE: workspace },
    });
    return 0;
  } catch (e) {
    console.error(`Integration tests failed: ${(e as Error).message ?? e}`);
    return 1;
  } finally {
    fs.rmSync(workspace, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code), (e) => {
  console.error(e);
  process.exit(1);
});
