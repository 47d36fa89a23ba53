// Smoke: the built extension loads in a real VS Code (code-server) and its commands reach the palette.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { alwaysInPalette, extensionId, installExtension, listExtensions, manifest, waitFor, withSession } from './harness';

test('code-server installs the packaged .vsix: bundles, icon and the user README are in it', { timeout: 120_000 }, () => {
  const m = manifest();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-e2e-list-'));
  try {
    const dest = installExtension(path.join(tmp, 'extensions'), path.join(tmp, 'user-data'));
    assert.equal(path.basename(dest), `${m.publisher}.${m.name}-${m.version}`);
    const listed = listExtensions(path.join(tmp, 'extensions'), path.join(tmp, 'user-data'));
    assert.ok(listed.includes(`${extensionId(m)}@${m.version}`), `listed: ${JSON.stringify(listed)}`);
    const views = ['monitor', 'compare', 'inspector', 'playground'].flatMap((v) => [`dist/views/${v}.js`, `dist/views/${v}.css`]);
    for (const f of ['package.json', 'dist/extension.js', 'dist/trainer.js', 'dist/playground.js', 'dist/webview.js', ...views, 'media/ulpt.svg', 'dist/config.schema.json', 'dist/tfjs-backend-wasm-simd.wasm', 'python/ulpt_torch/__main__.py', 'python/ulpt_torch/train/trainer.py']) {
      assert.ok(fs.existsSync(path.join(dest, f)), `${f} is in the package`);
    }
    assert.ok(!fs.existsSync(path.join(dest, 'python', 'tests')) && !fs.existsSync(path.join(dest, '.venv')), 'the engine\'s sources only: no tests, no virtual environment');
    assert.ok(m.icon && fs.statSync(path.join(dest, m.icon)).size > 1000, `the icon ${m.icon} is in the package`);
    // The Extensions page shows the README written for users (media/README.md), not the developer one.
    const readme = fs.readdirSync(dest).filter((f) => /^readme(\.md)?$/i.test(f));
    assert.equal(readme.length, 1, `one README in the package: ${JSON.stringify(readme)}`);
    const text = fs.readFileSync(path.join(dest, readme[0]), 'utf8');
    assert.match(text, /## Requirements/);
    assert.doesNotMatch(text, /scripts\/setup\.sh|npm test/, 'no developer set-up in the user README');
    const images = [...text.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]);
    assert.ok(images.length >= 2, 'the README shows screenshots');
    for (const src of images) assert.ok(src.startsWith('data:image/png;base64,') || fs.existsSync(path.join(dest, src)), `the README's image ${src.slice(0, 40)}… is in the package`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('the workbench loads, lists the extension and offers its commands', { timeout: 240_000 }, async (t) => {
  const m = manifest();
  const id = extensionId(m);
  await withSession({ name: 'smoke', settings: { 'ulpt.backend': 'wasm' }, log: (l) => t.diagnostic(l) }, async (s) => {
    await s.screenshot('workbench');

    // The Extensions view, filtered to installed extensions, shows ours: VS Code picked it up.
    await s.runCommand('View: Show Extensions');
    const search = s.page.locator('.extensions-viewlet .suggest-input-container .monaco-editor textarea').first();
    await search.waitFor({ state: 'attached', timeout: 15_000 });
    await search.focus();
    await s.page.keyboard.press('Control+A');
    await s.page.keyboard.type('@installed');
    const name = m.displayName ?? m.name;
    await waitFor(`"${name}" in the installed extensions list`, async () => {
      const names = await s.page.$$eval('.extensions-viewlet .extension-list-item .name', (els) => els.map((e) => e.textContent ?? ''));
      return names.some((n) => n.trim() === name);
    }, 30_000);
    await s.screenshot('extensions-installed');
    // Its page: the README for users (a webview) and the icon.
    await s.page.locator('.extensions-viewlet .extension-list-item').filter({ hasText: name }).first().click();
    await waitFor('the extension page', async () => (await s.page.locator('.extension-editor .header .name').first().textContent().catch(() => ''))?.trim() === name, 30_000);
    const readme = await s.findWebviewFrame(async (f) => ((await f.textContent('body').catch(() => '')) ?? '').includes('Close the window, keep training'), 'the README on the extension page', 30_000);
    const images = await readme.$$eval('img', (els) => els.map((e) => ({ src: e.getAttribute('src') ?? '', w: (e as HTMLImageElement).naturalWidth })));
    t.diagnostic(`README images: ${JSON.stringify(images.map((i) => ({ ...i, src: i.src.slice(0, 40) })))}`);
    assert.ok(images.length >= 2 && images.every((i) => i.w > 100), 'the README\'s screenshots render on the extension page');
    const icon = await s.page.locator('.extension-editor .header .icon').first().evaluate((e) => ({ src: (e as HTMLImageElement).src, w: (e as HTMLImageElement).naturalWidth }));
    t.diagnostic(`icon: ${icon.src.slice(-60)}, ${icon.w} px`);
    assert.ok(icon.w >= 128 && /icon\.png/.test(icon.src), 'the icon shows on the extension page');
    await s.screenshot('extension-page');

    // Every contributed "ULPT: …" command that is not conditional is in the palette.
    const titles = alwaysInPalette(m).filter((title) => title.startsWith('ULPT: '));
    if (titles.length === 0) {
      t.diagnostic('package.json contributes no "ULPT: …" commands yet: checking a built-in command instead');
      assert.ok(await s.hasCommand('Developer: Show Running Extensions'), 'built-in command in the palette');
    }
    for (const title of titles) assert.ok(await s.hasCommand(title), `"${title}" is in the command palette`);

    // Opening the training panel activates the extension (if that command exists yet).
    if (titles.includes('ULPT: Open Training Panel')) {
      await s.runCommand('ULPT: Open Training Panel');
      await waitFor(`${id} to activate`, () => s.extensionHostLog().includes(`_doActivateExtension ${id}`), 30_000);
      await s.screenshot('open-training-panel');
    }
    const failed = s.extensionHostLog().split('\n').filter((l) => l.includes(`Activating extension '${id}' failed`) || l.includes(`Activating extension ${id} failed`));
    assert.deepEqual(failed, [], 'activation errors in the extension host log');
  });
});
