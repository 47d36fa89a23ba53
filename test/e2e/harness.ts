// End-to-end harness: the built extension in a real VS Code (code-server, installed by scripts/setup-e2e.sh)
// driven by Debian's Chromium through playwright-core.
//
// One `Session` = one code-server on a free port with its own temp extensions dir (where the packaged .vsix is
// installed with `code-server --install-extension`, as a user would), user-data dir (settings) and a copy of the
// example workspace, plus one headless browser page on it. `withSession` runs a test body against a session under a time limit and, whatever happens,
// kills code-server and the browser; on failure it saves a screenshot, the browser console and VS Code's logs to
// test-results/e2e/<session>/ and appends the last log lines to the error, so a CI log alone says what went wrong.
//
// Environment: ULPT_E2E_CODE_SERVER (binary; default .e2e/code-server/…/code-server), ULPT_E2E_VSIX (default
// out/<name>-<version>.vsix, which `npm run test:e2e` packages), ULPT_E2E_CHROMIUM (default /usr/bin/chromium), ULPT_E2E_TIMEOUT_MS (per session, default 180 s), ULPT_E2E_KEEP=1 (keep the temp folders),
// and for training.test.ts ULPT_E2E_TRAIN_TIMEOUT_MS (default 480 s) and ULPT_E2E_STEPS (train fewer steps).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { readRunOwner } from '../../src/train/runLock';

/** The repo root, found from the bundled test's location (out/test/e2e) or the source (test/e2e). */
export const ROOT = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();
export const RESULTS = path.join(ROOT, 'test-results', 'e2e');

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run', '--disable-quic', '--disable-dev-shm-usage',
];

/** Settings every session starts with; a test's own settings are merged over them. */
const BASE_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'update.mode': 'none',
  'window.restoreWindows': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  // Fewer moving parts on a 2-core CI machine; the example workspace copy is not a git repository anyway.
  'git.enabled': false,
};

// ---- what is installed --------------------------------------------------------------------------------------

export function codeServerPath(): string {
  const p = process.env.ULPT_E2E_CODE_SERVER ?? path.join(ROOT, '.e2e', 'code-server', 'node_modules', '.bin', 'code-server');
  if (!fs.existsSync(p)) {
    throw new Error(`code-server not found at ${p}. Run \`npm run setup:e2e\` (scripts/setup-e2e.sh) first, or set ULPT_E2E_CODE_SERVER.`);
  }
  return p;
}

export function chromiumPath(): string {
  const candidates = [process.env.ULPT_E2E_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`Chromium not found (looked at ${candidates.join(', ')}). Run \`npm run setup:e2e\` or set ULPT_E2E_CHROMIUM.`);
  return found;
}

export interface Manifest {
  publisher: string;
  name: string;
  version: string;
  displayName?: string;
  main?: string;
  browser?: string;
  icon?: string;
  contributes?: { commands?: { command: string; title: string; category?: string }[]; [k: string]: unknown };
}

export function manifest(): Manifest {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;
}

/** `publisher.name`, the id VS Code knows the extension by. */
export function extensionId(m = manifest()): string {
  return `${m.publisher}.${m.name}`.toLowerCase();
}

/** Command palette titles ("ULPT: Train from Config File") of the commands this extension contributes, by id. */
export function contributedCommandTitles(m = manifest()): Map<string, string> {
  const titles = new Map<string, string>();
  for (const c of m.contributes?.commands ?? []) titles.set(c.command, c.category ? `${c.category}: ${c.title}` : c.title);
  return titles;
}

/**
 * The titles the palette always shows: contributed commands without a `when` clause in
 * `contributes.menus.commandPalette` (those appear only in some states, e.g. "Stop Training" while training).
 */
export function alwaysInPalette(m = manifest()): string[] {
  const menus = (m.contributes?.menus ?? {}) as { commandPalette?: { command: string; when?: string }[] };
  const conditional = new Set((menus.commandPalette ?? []).filter((e) => e.when !== undefined).map((e) => e.command));
  return [...contributedCommandTitles(m)].filter(([id]) => !conditional.has(id)).map(([, title]) => title);
}

/** The packaged extension: ULPT_E2E_VSIX, else out/<name>-<version>.vsix (`npm run test:e2e` packages it first). */
export function vsixPath(m = manifest()): string {
  const p = process.env.ULPT_E2E_VSIX ?? path.join(ROOT, 'out', `${m.name}-${m.version}.vsix`);
  if (!fs.existsSync(p)) {
    throw new Error(`${p} is missing: package the extension first (npm run package -- --out ${path.relative(ROOT, p)}), or run npm run test:e2e, which does.`);
  }
  return p;
}

/**
 * Installs the packaged .vsix the way a user does: `code-server --install-extension <vsix>` into `extensionsDir`.
 * A file the extension needs but the package leaves out fails here, as it would for users. Returns the folder
 * code-server installed it into.
 */
export function installExtension(extensionsDir: string, userDataDir: string): string {
  const m = manifest();
  const vsix = vsixPath(m);
  fs.mkdirSync(extensionsDir, { recursive: true });
  fs.mkdirSync(userDataDir, { recursive: true });
  const config = path.join(userDataDir, 'config.yaml');
  if (!fs.existsSync(config)) fs.writeFileSync(config, 'auth: none\ncert: false\n');
  const r = spawnSync(codeServerPath(), ['--install-extension', vsix, '--force', '--extensions-dir', extensionsDir, '--user-data-dir', userDataDir,
    '--config', config], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`code-server --install-extension ${vsix} failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
  const dest = path.join(extensionsDir, `${m.publisher}.${m.name}-${m.version}`.toLowerCase());
  if (!fs.existsSync(path.join(dest, 'package.json'))) {
    throw new Error(`code-server reported success but ${dest} has no package.json:\n${r.stdout}${r.stderr}\n(in ${extensionsDir}: ${fs.readdirSync(extensionsDir).join(', ')})`);
  }
  return dest;
}

/** `code-server --list-extensions` for an extensions dir: what VS Code itself will load from it. */
export function listExtensions(extensionsDir: string, userDataDir: string): string[] {
  const r = spawnSync(codeServerPath(), ['--list-extensions', '--show-versions', '--extensions-dir', extensionsDir,
    '--user-data-dir', userDataDir, '--config', path.join(userDataDir, 'config.yaml')], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`code-server --list-extensions failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
  // Lines other than `publisher.name@version` are code-server's own log lines.
  return r.stdout.split('\n').map((l) => l.trim()).filter((l) => /^[\w-]+\.[\w.-]+@\S+$/.test(l));
}

/** Ends every trainer that holds a run under `workspace/.ulpt/runs` (its lock.json names it; the pid is checked). */
export function killTrainers(workspace: string): number[] {
  const runs = path.join(workspace, '.ulpt', 'runs');
  const killed: number[] = [];
  for (const id of fs.existsSync(runs) ? fs.readdirSync(runs) : []) {
    const owner = readRunOwner(path.join(runs, id));
    if (owner.state !== 'alive') continue;
    try {
      process.kill(owner.lock.pid, 'SIGKILL');
      killed.push(owner.lock.pid);
    } catch { /* gone meanwhile */ }
  }
  return killed;
}

// ---- small utilities ----------------------------------------------------------------------------------------

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Thrown from a `waitFor` check to stop waiting at once (anything else thrown there just means "not yet"). */
export class WaitAbort extends Error {
  override name = 'WaitAbort';
}

/** Polls `check` until it returns a truthy value; the error names `what` and the last value/exception seen. */
export async function waitFor<T>(what: string, check: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 30_000, intervalMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
      last = v;
    } catch (e) {
      if (e instanceof WaitAbort) throw e;
      last = e instanceof Error ? e.message : e;
    }
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await sleep(intervalMs);
  }
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

// Every code-server this process started, so that they die with it even if a test is abandoned.
const liveGroups = new Set<number>();
process.on('exit', () => {
  for (const pgid of liveGroups) try { process.kill(-pgid, 'SIGKILL'); } catch { /* already gone */ }
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const pgid of liveGroups) try { process.kill(-pgid, 'SIGKILL'); } catch { /* already gone */ }
    process.exit(130);
  });
}

// ---- the session --------------------------------------------------------------------------------------------

export interface SessionOptions {
  /** Names the results folder test-results/e2e/<name>/. */
  name: string;
  /** Merged over the base settings (e.g. { 'ulpt.backend': 'wasm' }). */
  settings?: Record<string, unknown>;
  /** Folder copied as the workspace (default examples/workspace; its .ulpt/ and adapters/ are left behind). */
  workspaceSource?: string;
  /** Called with the workspace copy before code-server starts (e.g. to shorten a config for CI). */
  prepareWorkspace?: (workspace: string) => void;
  /** Extra environment for code-server and so the extension host and the trainer it forks. */
  env?: Record<string, string>;
  /** Limit for the whole session, start to teardown (default 180 s, or ULPT_E2E_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Receives progress lines (timings); pass the test context's diagnostic. */
  log?: (line: string) => void;
  /** The browser window's size (default 1400 × 900). */
  viewport?: { width: number; height: number };
  /** Workspace trust on (default off): the folder opens in Restricted Mode until the test trusts it. */
  workspaceTrust?: boolean;
}

export class Session {
  readonly tmp: string;
  readonly extensionsDir: string;
  readonly userDataDir: string;
  readonly workspace: string;
  readonly results: string;
  readonly timings: Record<string, number> = {};
  port = 0;
  page!: Page;
  private browser: Browser | null = null;
  private server: ChildProcess | null = null;
  private serverLog: string[] = [];
  private consoleLog: string[] = [];
  private serverExit: string | null = null;
  private closed = false;

  constructor(readonly opts: SessionOptions) {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-e2e-'));
    this.extensionsDir = path.join(this.tmp, 'extensions');
    this.userDataDir = path.join(this.tmp, 'user-data');
    this.workspace = path.join(this.tmp, 'workspace');
    this.results = path.join(RESULTS, opts.name);
    fs.rmSync(this.results, { recursive: true, force: true });
    fs.mkdirSync(this.results, { recursive: true });
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private async timed<T>(phase: string, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    const r = await fn();
    this.timings[phase] = Date.now() - t0;
    this.log(`${phase}: ${this.timings[phase]} ms`);
    return r;
  }

  /** Prepares the folders, starts code-server and the browser, and waits for the workbench. */
  async start(): Promise<void> {
    const source = this.opts.workspaceSource ?? path.join(ROOT, 'examples', 'workspace');
    fs.cpSync(source, this.workspace, {
      recursive: true,
      filter: (src) => !['.ulpt', 'adapters'].includes(path.relative(source, src).split(path.sep)[0]),
    });
    this.opts.prepareWorkspace?.(this.workspace);
    await this.timed('install .vsix', async () => installExtension(this.extensionsDir, this.userDataDir));
    fs.mkdirSync(path.join(this.userDataDir, 'User'), { recursive: true });
    fs.writeFileSync(path.join(this.userDataDir, 'User', 'settings.json'),
      JSON.stringify({ ...BASE_SETTINGS, ...this.opts.settings }, null, 2));
    // Our own config file, so that code-server never writes ~/.config/code-server/config.yaml.
    fs.writeFileSync(path.join(this.userDataDir, 'config.yaml'), 'auth: none\ncert: false\n');
    this.port = await freePort();
    await this.timed('code-server start', () => this.startServer());
    await this.timed('browser launch', () => this.startBrowser());
    await this.timed('first page load', () => this.openWorkbench());
  }

  private async startServer(): Promise<void> {
    const args = ['--auth', 'none', '--bind-addr', `127.0.0.1:${this.port}`, '--config', path.join(this.userDataDir, 'config.yaml'),
      '--extensions-dir', this.extensionsDir, '--user-data-dir', this.userDataDir, '--disable-telemetry',
      '--disable-update-check', ...(this.opts.workspaceTrust ? [] : ['--disable-workspace-trust']), this.workspace];
    const env = { ...process.env, ...this.opts.env };
    delete env.NODE_OPTIONS; // the test runner's options (e.g. --test) must not reach code-server's node processes
    delete env.NODE_TEST_CONTEXT;
    const server = spawn(codeServerPath(), args, { cwd: this.workspace, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.server = server;
    if (server.pid) liveGroups.add(server.pid);
    const capture = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.serverLog.push(line);
      if (this.serverLog.length > 5000) this.serverLog.splice(0, this.serverLog.length - 5000);
    };
    server.stdout!.on('data', capture);
    server.stderr!.on('data', capture);
    server.on('exit', (code, signal) => { this.serverExit = `exited with ${code ?? signal}`; });
    await waitFor('code-server to answer on /healthz', async () => {
      if (this.serverExit) throw new Error(`code-server ${this.serverExit}:\n${tail(this.serverLog.join('\n'), 30)}`);
      const res = await fetch(`http://127.0.0.1:${this.port}/healthz`).catch(() => null);
      return res?.ok ?? false;
    }, 60_000, 200);
  }

  private async startBrowser(): Promise<void> {
    this.browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
    const context = await this.browser.newContext({ viewport: this.opts.viewport ?? { width: 1400, height: 900 } });
    this.page = await context.newPage();
    this.page.on('console', (m) => this.pushConsole(`[${m.type()}] ${m.text()}`));
    this.page.on('pageerror', (e) => this.pushConsole(`[pageerror] ${e.message}`));
  }

  private pushConsole(line: string): void {
    this.consoleLog.push(line);
    if (this.consoleLog.length > 2000) this.consoleLog.splice(0, this.consoleLog.length - 2000);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/?folder=${encodeURIComponent(this.workspace)}`;
  }

  private async openWorkbench(): Promise<void> {
    await this.page.goto(this.url, { waitUntil: 'domcontentloaded', timeout: 60_000 });
    await this.page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
    // The status bar and the explorer's folder are drawn once the workbench has restored its parts.
    await this.page.waitForSelector('.statusbar', { timeout: 60_000 });
    await this.page.waitForSelector('.explorer-folders-view, .explorer-viewlet', { timeout: 60_000 });
    // The remote extension host has started and scanned the extensions (ours included): their commands are known.
    await waitFor('the extension host to start', () => this.extensionHostLog().includes('Eager extensions activated'), 60_000);
  }

  // ---- helpers for tests ------------------------------------------------------------------------------------

  /** Opens the command palette (F1), retrying while the workbench is still taking keyboard focus. */
  async openPalette(): Promise<void> {
    const widget = this.page.locator('.quick-input-widget');
    await waitFor('the command palette to open', async () => {
      if (await widget.isVisible()) return true;
      await this.page.locator('.monaco-workbench').focus().catch(() => undefined);
      await this.page.keyboard.press('F1');
      await widget.waitFor({ state: 'visible', timeout: 2_000 }).catch(() => undefined);
      return widget.isVisible();
    }, 30_000, 100);
  }

  /** Texts (aria-labels) of the rows the quick input shows now. */
  async quickInputRows(): Promise<string[]> {
    return this.page.$$eval('.quick-input-widget .quick-input-list .monaco-list-row',
      (rows) => rows.map((r) => r.getAttribute('aria-label') ?? r.textContent ?? ''));
  }

  /** Runs a command by its palette title, e.g. "ULPT: Train from Config File". */
  async runCommand(title: string, timeoutMs = 15_000): Promise<void> {
    await this.openPalette();
    await this.pickRow(title, (label) => label === title || label.startsWith(`${title},`), timeoutMs, `>${title}`);
  }

  /** True if the palette lists a command with exactly this title; leaves the palette closed. */
  async hasCommand(title: string, timeoutMs = 5_000): Promise<boolean> {
    await this.openPalette();
    const found = await this.findRow((label) => label === title || label.startsWith(`${title},`), timeoutMs, `>${title}`)
      .then(() => true, () => false);
    await this.page.keyboard.press('Escape');
    return found;
  }

  /** Chooses the item containing `text` in the open quick pick (typing `filter` first, if given). */
  async quickPick(text: string, filter?: string, timeoutMs = 15_000): Promise<void> {
    await this.page.locator('.quick-input-widget').waitFor({ state: 'visible', timeout: timeoutMs });
    await this.pickRow(text, (label) => label.includes(text), timeoutMs, filter);
  }

  private async pickRow(what: string, match: (label: string) => boolean, timeoutMs: number, filter?: string): Promise<void> {
    const index = await this.findRow(match, timeoutMs, filter).catch((e: Error & { rows?: string[] }) => {
      throw new Error(`No quick input item matches "${what}". Shown: ${JSON.stringify(e.rows ?? [])}`);
    });
    await this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').nth(index).click();
  }

  /**
   * Index of the first row matching `match`. The list is computed when the filter text changes, so while the
   * wanted row is missing (commands still registering) the filter is typed again every 2 s.
   */
  private async findRow(match: (label: string) => boolean, timeoutMs: number, filter?: string): Promise<number> {
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    let rows: string[] = [];
    let typed = 0;
    try {
      return await waitFor('a matching quick input row', async () => {
        if (filter !== undefined && Date.now() - typed > 2_000) {
          await input.fill(typed ? filter.slice(0, -1) : filter);
          if (typed) await input.fill(filter);
          typed = Date.now();
        }
        rows = await this.quickInputRows();
        const i = rows.findIndex(match);
        return i >= 0 ? i + 1 : null;
      }, timeoutMs).then((i) => i - 1);
    } catch (e) {
      throw Object.assign(e as Error, { rows });
    }
  }

  /** The first frame (webviews are nested iframes) for which `predicate` holds, polling until it appears. */
  async findWebviewFrame(predicate: (frame: Frame) => Promise<boolean>, what = 'a webview frame', timeoutMs = 30_000): Promise<Frame> {
    return waitFor(what, async () => {
      for (const frame of this.page.frames()) {
        if (frame === this.page.mainFrame() || frame.isDetached()) continue;
        if (await predicate(frame).catch(() => false)) return frame;
      }
      return null;
    }, timeoutMs);
  }

  /** The webview frame holding an element that matches `selector`. */
  frameWith(selector: string, timeoutMs = 30_000): Promise<Frame> {
    return this.findWebviewFrame(async (f) => (await f.$(selector)) !== null, `a webview with ${selector}`, timeoutMs);
  }

  async screenshot(name: string): Promise<string> {
    const file = path.join(this.results, `${name}.png`);
    await this.page.screenshot({ path: file, timeout: 15_000 });
    this.log(`screenshot: ${path.relative(ROOT, file)}`);
    return file;
  }

  /** A screenshot of the first element matching `selector` (with `pad` px around it), e.g. for the README. */
  async screenshotOf(name: string, selector: string, pad = 0): Promise<string> {
    const box = await this.page.locator(selector).first().boundingBox({ timeout: 15_000 });
    if (!box) throw new Error(`${selector} is not visible: no screenshot ${name}`);
    const vp = this.page.viewportSize() ?? { width: 1400, height: 900 };
    const x = Math.max(0, box.x - pad);
    const y = Math.max(0, box.y - pad);
    const clip = { x, y, width: Math.min(vp.width - x, box.width + 2 * pad), height: Math.min(vp.height - y, box.height + 2 * pad) };
    const file = path.join(this.results, `${name}.png`);
    await this.page.screenshot({ path: file, clip, timeout: 15_000 });
    this.log(`screenshot: ${path.relative(ROOT, file)}`);
    return file;
  }

  /** VS Code's own log files (extension host, server, output channels) of this session. */
  vscodeLogs(): string[] {
    return filesUnder(path.join(this.userDataDir, 'logs')).filter((f) => f.endsWith('.log'));
  }

  /** The extension host log: activation lines ("ExtensionService#_doActivateExtension <id>") and failures. */
  extensionHostLog(): string {
    return this.vscodeLogs().filter((f) => /exthost\.log$/i.test(f)).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
  }

  /** Notification toasts shown now (messages from showInformationMessage / showErrorMessage). */
  async notifications(): Promise<string[]> {
    return this.page.$$eval('.notification-toast .notification-list-item-message', (els) => els.map((e) => e.textContent ?? ''));
  }

  /** The error toasts (showErrorMessage) shown now. */
  async errorNotifications(): Promise<string[]> {
    return this.page.$$eval('.notification-toast .notification-list-item', (items) => items
      .filter((i) => i.querySelector('.codicon-error'))
      .map((i) => i.querySelector('.notification-list-item-message')?.textContent ?? ''));
  }

  /** The editor tabs' titles (aria-labels start with the title). */
  async tabTitles(): Promise<string[]> {
    return this.page.$$eval('.tabs-container .tab .label-name', (els) => els.map((e) => (e.textContent ?? '').trim()));
  }

  /** Brings the editor tab with this title to the front (a hidden webview has no frame until it is shown). */
  async showTab(title: string): Promise<void> {
    await this.page.locator('.tabs-container .tab').filter({ has: this.page.locator('.label-name', { hasText: title }) }).first().click({ timeout: 15_000 });
  }

  /** The texts of the status bar items. */
  async statusBarTexts(): Promise<string[]> {
    return this.page.$$eval('.statusbar-item', (els) => els.map((e) => (e.textContent ?? '').trim()).filter(Boolean));
  }

  /** Clicks the button of the modal dialog whose label matches; returns the dialog's message. */
  async answerModal(button: RegExp, timeoutMs = 30_000): Promise<string> {
    const modal = this.page.locator('.monaco-dialog-box');
    await modal.waitFor({ state: 'visible', timeout: timeoutMs });
    const text = ((await modal.locator('.dialog-message-text').textContent()) ?? '').trim();
    const buttons = modal.locator('.dialog-buttons .monaco-button');
    const labels = await buttons.allTextContents();
    const i = labels.findIndex((l) => button.test(l));
    if (i < 0) throw new Error(`The dialog "${text}" has no button matching ${button}: ${JSON.stringify(labels)}`);
    await buttons.nth(i).click();
    await modal.waitFor({ state: 'hidden', timeout: 10_000 });
    return text;
  }

  /** "Developer: Reload Window", then waits for the workbench and a new extension host. */
  async reloadWindow(): Promise<void> {
    const hosts = (this.extensionHostLog().match(/Eager extensions activated/g) ?? []).length;
    const t0 = Date.now();
    await this.runCommand('Developer: Reload Window');
    await waitFor('the window to reload', async () => {
      await this.page.waitForSelector('.monaco-workbench', { timeout: 5_000 });
      return (this.extensionHostLog().match(/Eager extensions activated/g) ?? []).length > hosts;
    }, 90_000, 500);
    await this.page.waitForSelector('.statusbar', { timeout: 60_000 });
    this.timings['reload'] = Date.now() - t0;
    this.log(`reload: ${this.timings['reload']} ms`);
  }

  // ---- failure report and teardown --------------------------------------------------------------------------

  /** Saves what explains a failure under results/ and returns the most telling lines for the error message. */
  async failureReport(): Promise<string> {
    const parts: string[] = [`results: ${path.relative(ROOT, this.results)}/`];
    if (this.page && !this.page.isClosed()) {
      await this.screenshot('failure').catch((e) => parts.push(`(no failure screenshot: ${e instanceof Error ? e.message : e})`));
      const toasts = await this.notifications().catch(() => []);
      if (toasts.length) parts.push(`--- notifications ---\n${toasts.join('\n')}`);
    }
    fs.writeFileSync(path.join(this.results, 'code-server.log'), this.serverLog.join('\n'));
    fs.writeFileSync(path.join(this.results, 'browser-console.log'), this.consoleLog.join('\n'));
    const logsDir = path.join(this.results, 'vscode-logs');
    for (const f of this.vscodeLogs()) {
      const dest = path.join(logsDir, path.relative(path.join(this.userDataDir, 'logs'), f));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(f, dest);
    }
    parts.push(`--- code-server (last 30 lines) ---\n${tail(this.serverLog.join('\n'), 30)}`);
    const exthost = this.extensionHostLog();
    if (exthost) parts.push(`--- extension host log (last 30 lines) ---\n${tail(exthost.trimEnd(), 30)}`);
    for (const f of this.vscodeLogs().filter((f) => /output_logging/.test(f))) {
      const text = fs.readFileSync(f, 'utf8').trimEnd();
      if (text) parts.push(`--- output channel ${path.basename(f)} (last 20 lines) ---\n${tail(text, 20)}`);
    }
    const errors = this.consoleLog.filter((l) => /^\[(error|pageerror)\]/.test(l) && !/Failed to load resource/.test(l));
    if (errors.length) parts.push(`--- browser console errors (last 10) ---\n${errors.slice(-10).join('\n')}`);
    return parts.join('\n');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.browser?.close().catch(() => undefined);
    const server = this.server;
    if (server?.pid) {
      const pgid = server.pid;
      const gone = new Promise<void>((r) => (server.exitCode !== null || server.signalCode !== null ? r() : server.once('exit', () => r())));
      try { process.kill(-pgid, 'SIGTERM'); } catch { /* already gone */ }
      await Promise.race([gone, sleep(5_000)]);
      try { process.kill(-pgid, 'SIGKILL'); } catch { /* all gone */ }
      liveGroups.delete(pgid);
    }
    // Trainers run detached from the window (their own process group, on purpose): end the ones this test started.
    killTrainers(this.workspace);
    if (!process.env.ULPT_E2E_KEEP) fs.rmSync(this.tmp, { recursive: true, force: true, maxRetries: 3 });
    else this.log(`kept ${this.tmp}`);
  }
}

/**
 * Starts a session, runs `body` within the time limit, and always tears down. A failure (or time-out) is
 * rethrown with the failure report appended.
 */
export async function withSession(opts: SessionOptions, body: (s: Session) => Promise<void>): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? (Number(process.env.ULPT_E2E_TIMEOUT_MS) || 180_000);
  const session = new Session(opts);
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`e2e session "${opts.name}" exceeded its ${timeoutMs} ms limit`)), timeoutMs);
  });
  try {
    await Promise.race([(async () => { await session.start(); await body(session); })(), limit]);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const report = await Promise.race([session.failureReport(), sleep(20_000).then(() => '(failure report timed out)')])
      .catch((r) => `(failure report failed: ${r})`);
    err.message = `${err.message}\n${report}`;
    throw err;
  } finally {
    clearTimeout(timer);
    await session.close();
  }
}
