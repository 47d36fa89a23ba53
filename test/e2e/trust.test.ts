// A window trusted after it opened in Restricted Mode follows terminal runs as a trusted one does (issue 15.2).
//
// code-server opens the example workspace with workspace trust on and no startup prompt: Restricted Mode. A
// `ulpt train` from a terminal (a process of this test) starts training there; then the workspace is trusted through
// the workbench's own trust editor. Without a reload, the window must follow the run: its status-bar item, the
// palette's Stop (which stops it: the process exits 130 with a checkpoint) and the "stopped" notification.
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { ROOT, waitFor, withSession } from './harness';

const CLI = path.join(ROOT, 'dist', 'cli.js');

test('trusted after opening in Restricted Mode: a terminal run gets its status bar item, Stop and notification without a reload', { timeout: 300_000 }, async (t) => {
  let run: ChildProcess | null = null;
  const opts = {
    name: 'trust', workspaceTrust: true, timeoutMs: 240_000, log: (l: string) => t.diagnostic(l),
    settings: { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never', 'security.workspace.trust.banner': 'never', 'ulpt.backend': 'wasm' },
  };
  try {
    await withSession(opts, async (s) => {
      await waitFor('Restricted Mode', async () => (await s.statusBarTexts()).some((x) => /Restricted Mode/i.test(x)), 30_000);
      run = spawn(process.execPath, [CLI, 'train', '--config', 'ulpt.config.json', '--steps', '100000', '--eval-every', '10', '--warmup-steps', '1',
        '--out', 'adapters/terminal.ulpt', '--backend', 'wasm'], { cwd: s.workspace, stdio: 'ignore' });
      await s.screenshot('restricted-with-terminal-run');

      // Trust the folder through the workbench's own editor.
      await s.runCommand('Workspaces: Manage Workspace Trust');
      const trust = s.page.locator('.workspace-trust-editor .workspace-trust-buttons-row .monaco-button', { hasText: /^Trust/ }).first();
      await trust.click({ timeout: 30_000 });
      await waitFor('the workspace to be trusted', async () => !(await s.statusBarTexts()).some((x) => /Restricted Mode/i.test(x)), 30_000);

      const item = await waitFor('the run in the status bar', async () => (await s.statusBarTexts()).find((x) => x.includes('terminal · ULPT r=2')), 60_000);
      t.diagnostic(`status bar: ${item}`);
      await s.screenshot('trusted-run-followed');
      await s.runCommand('ULPT: Stop Training');
      const exit = await waitFor('the terminal run to stop', () => (run!.exitCode !== null ? { code: run!.exitCode } : null), 60_000);
      assert.equal(exit.code, 130, 'ulpt train stopped after a step, with a checkpoint');
      const note = await waitFor('the stopped notification', async () => (await s.notifications()).find((n) => /terminal · ULPT r=2 · [0-9a-f]{4} stopped at step \d+/.test(n)), 30_000);
      t.diagnostic(`notification: ${note}`);
      await s.screenshot('trusted-run-stopped');
    });
  } finally {
    const proc = run as ChildProcess | null;
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  }
});
