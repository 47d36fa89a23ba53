// Reading the training panel (a webview: a nested iframe) from an e2e test, and the run folders behind it.
// Contract with webview/panel/ and extension/views/panelHtml.ts: #run-name, #status (data-status: running /
// stopping / completed / early-stopped / stopped / interrupted / failed), #step (data-step), the stat values
// #params / #backend / #device, #owner, #message-text / #message-tail, [data-points] on the charts, #stop,
// #save-adapter.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Frame } from 'playwright-core';
import type { RunSummary } from '../../src/protocol';
import { readRunLock } from '../../src/train/runLock';
import { WaitAbort, waitFor, type Session } from './harness';

export interface PanelReading {
  name: string;
  status: string;
  step: number;
  points: number;
  params: string;
  backend: string;
  device: string;
  owner: string;
  message: string;
}

/** The frame of the panel whose run name satisfies `match` (any panel without one); looked up again when it went away. */
export function panelFinder(s: Session, match: (name: string) => boolean = () => true): () => Promise<Frame> {
  let frame: Frame | null = null;
  return async () => {
    // f.$ does not wait (textContent would, 30 s, in every frame that is not a panel).
    const nameOf = async (f: Frame) => ((await (await f.$('#run-name'))?.textContent()) ?? null)?.trim() ?? null;
    if (!frame || frame.isDetached() || !match((await nameOf(frame).catch(() => null)) ?? '')) {
      frame = await s.findWebviewFrame(async (f) => {
        const name = await nameOf(f);
        return name !== null && (await f.$('#status')) !== null && match(name);
      }, 'a training panel', 60_000);
    }
    return frame;
  };
}

export async function readPanel(f: Frame): Promise<PanelReading> {
  const text = async (sel: string) => ((await f.textContent(sel, { timeout: 5_000 }).catch(() => '')) ?? '').trim();
  const attr = async (sel: string, name: string) => (await f.getAttribute(sel, name, { timeout: 5_000 }).catch(() => null)) ?? '';
  return {
    name: await text('#run-name'),
    status: await attr('#status', 'data-status'),
    step: Number(await attr('#step', 'data-step')) || 0,
    points: Number(await attr('#loss-chart', 'data-points')) || 0,
    params: await text('#params'),
    backend: await text('#backend'),
    device: await text('#device'),
    owner: (await f.isHidden('#owner').catch(() => true)) ? '' : await text('#owner'),
    message: (await f.isHidden('#message').catch(() => true)) ? '' : `${await text('#message-text')}\n${await text('#message-tail')}`.trim(),
  };
}

const DONE = new Set(['completed', 'early-stopped']);

/** Waits for the panel's status to be one of `statuses`, stopping at once on a failure (panel or error toast). */
export async function waitForStatus(s: Session, panel: () => Promise<Frame>, statuses: string[], timeoutMs: number, what = statuses.join(' or ')): Promise<PanelReading> {
  return waitFor(`the run to be ${what}`, async () => {
    const r = await readPanel(await panel());
    if (r.status === 'failed' || (r.status === 'interrupted' && !statuses.includes('interrupted'))) throw new WaitAbort(`the run is ${r.status}: ${r.message}`);
    const errors = await s.errorNotifications();
    if (errors.length) throw new WaitAbort(`an error notification appeared: ${errors.join(' | ')}`);
    return statuses.includes(r.status) ? r : null;
  }, timeoutMs, 500);
}

/**
 * Presses a training panel's Stop and waits until the request has reached the run folder (the extension host wrote
 * stop-request.json, or the trainer already answered it and let go of the run). Once on CI, after a window reload,
 * a click reported as done by the browser left no trace in the extension host and the run trained on; if that
 * happens (still running, no request after 15 s) the click is repeated once and said, so a lost click and a Stop
 * that does not work are told apart. Never clicks a second time once the run is stopping (that would be Stop Now).
 */
export async function pressStop(s: Session, panel: () => Promise<Frame>, runDir: string, log: (line: string) => void): Promise<void> {
  const reached = () => fs.existsSync(path.join(runDir, 'stop-request.json')) || readRunLock(runDir) === null;
  for (let attempt = 1; ; attempt++) {
    const f = await panel();
    await f.waitForSelector('#stop:not([disabled])', { timeout: 30_000 });
    await f.click('#stop');
    try {
      await waitFor('the stop request to reach the run folder', reached, 15_000, 200);
      return;
    } catch (e) {
      const status = (await readPanel(await panel())).status;
      if (attempt >= 2 || status !== 'running') throw e;
      log(`Stop was clicked, but after 15 s the run is ${status} and no stop request reached ${path.basename(runDir)}: clicking again`);
      await s.screenshot('stop-click-lost');
    }
  }
}

export const waitForFinish = (s: Session, panel: () => Promise<Frame>, timeoutMs: number) => waitForStatus(s, panel, [...DONE], timeoutMs, 'finished');

/** The run folders under the workspace's .ulpt/runs, oldest first. */
export function runDirs(workspace: string): string[] {
  const root = path.join(workspace, '.ulpt', 'runs');
  return fs.existsSync(root) ? fs.readdirSync(root).sort().map((d) => path.join(root, d)) : [];
}

export function readSummary(runDir: string): RunSummary | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as RunSummary;
  } catch {
    return null;
  }
}

export function ownerPid(runDir: string): number | null {
  return readRunLock(runDir)?.pid ?? null;
}

/** The `started` lines in trainer.log: one per trainer process that ran the run. */
export function startedCount(runDir: string): number {
  try {
    return fs.readFileSync(path.join(runDir, 'trainer.log'), 'utf8').split('\n').filter((l) => l.startsWith('{"type":"started"')).length;
  } catch {
    return 0;
  }
}

/** ULPT_E2E_STEPS=N (or `steps`) trains N steps instead of the config's (in the workspace copy; evaluation every ≤ N steps). */
export function setConfigSteps(workspace: string, steps = Number(process.env.ULPT_E2E_STEPS), file = 'ulpt.config.json'): void {
  if (!steps) return;
  const f = path.join(workspace, file);
  const config = JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;
  config.steps = steps;
  if (typeof config.evalEvery === 'number' && config.evalEvery > steps) config.evalEvery = steps;
  if (typeof config.warmupSteps === 'number' && config.warmupSteps >= steps) config.warmupSteps = Math.floor(steps / 10);
  fs.writeFileSync(f, JSON.stringify(config, null, 2));
}
