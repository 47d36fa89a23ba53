// The side-panel monitor (browser side): a list of the workspace's runs, drawn from the host's state (`runs`, then
// one `run` per change). It keeps only the selection for Compare, in the webview state.
import './monitor.css';
import type { HostToMonitor, MonitorAction, MonitorRun, MonitorSweep, MonitorToHost } from '../../src/protocol';
import { assertNever } from '../../src/protocol';
import { formatDuration, formatNumber, STATUS_TEXT } from '../shared/series';
import { sparkline } from '../shared/svg';
import { byId, frameScheduler, h, setEnabled, vscodeApi } from '../shared/vscodeApi';
import { groupRuns, type RunGroup } from './groups';

interface State {
  selected: string[];
}
const vscode = vscodeApi<MonitorToHost, State>();
const selected = new Set<string>(vscode.getState()?.selected ?? []);
const persist = () => vscode.setState({ selected: [...selected] });

let runs: MonitorRun[] = [];
let sweeps: MonitorSweep[] = [];
let loaded = false;

function actionButton(run: MonitorRun, action: MonitorAction, label: string, title: string, enabled: boolean): HTMLButtonElement {
  const b = h('button', { class: 'secondary small', 'data-action': action, title, 'aria-label': `${title}: ${run.name}` }, label);
  setEnabled(b, enabled);
  b.addEventListener('click', (e) => {
    e.stopPropagation();
    if (!b.hasAttribute('disabled')) vscode.postMessage({ type: 'action', action, dir: run.dir });
  });
  return b;
}

function progress(run: MonitorRun): HTMLElement {
  const bar = h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': run.totalSteps ?? 0, 'aria-valuenow': run.step });
  const fill = h('div', { class: 'fill' });
  // Width through the CSSOM: the CSP refuses style attributes, not element.style.
  fill.style.width = `${run.totalSteps ? Math.min(100, (100 * run.step) / run.totalSteps) : 0}%`;
  bar.append(fill);
  return bar;
}

function row(run: MonitorRun): HTMLLIElement {
  const live = run.status === 'running' || run.status === 'stopping';
  const hasAdapter = run.adapters.best || run.adapters.final;
  const check = h('input', { type: 'checkbox', class: 'select', 'data-testid': 'select', 'aria-label': `Select ${run.name} for Compare`, checked: selected.has(run.dir) });
  check.addEventListener('click', (e) => e.stopPropagation());
  check.addEventListener('change', () => {
    if (check.checked) selected.add(run.dir);
    else selected.delete(run.dir);
    persist();
    drawToolbar();
  });
  const ownerNote = run.owner === 'process' ? 'trained by a process this window did not start (a terminal, another window, or before a reload)' : run.owner === 'window' ? 'started from this window' : '';
  const status = h('span', { class: 'tag', 'data-status': run.status, 'data-testid': 'status', title: ownerNote }, STATUS_TEXT[run.status]);
  const best = run.best ? `${run.best.metric} ${formatNumber(run.best.value, 3)} @ ${run.best.step}` : 'no evaluation yet';
  const time = [run.elapsedMs !== null ? `${formatDuration(run.elapsedMs)} elapsed` : '', live && run.etaMs !== null ? `${formatDuration(run.etaMs)} left` : ''].filter(Boolean).join(' · ');
  const spark = sparkline(run.sparkline, 90, 26);
  spark.setAttribute('data-testid', 'sparkline');
  spark.dataset.trainPoints = String(run.trainPoints);
  const li = h('li', { class: 'run', 'data-dir': run.dir, 'data-status': run.status, 'data-testid': 'run', 'data-name': run.name, tabindex: 0, title: `${run.dir}\nDouble-click: open the training panel` },
    h('div', { class: 'head' }, check, h('span', { class: 'name', 'data-testid': 'name' }, run.name), status),
    h('div', { class: 'line detail', 'data-testid': 'what', title: run.method }, [run.model, run.promptLength ? `n=${run.promptLength}` : '', run.task ?? ''].filter(Boolean).join(' · ')),
    h('div', { class: 'line' }, progress(run), h('span', { class: 'steps', 'data-testid': 'steps', 'data-step': run.step }, `${run.step}${run.totalSteps ? ` / ${run.totalSteps}` : ''}`)),
    h('div', { class: 'line split' }, h('div', { class: 'numbers' },
      h('div', { 'data-testid': 'best', title: 'The best evaluation so far (the adapter kept as best.ulpt)' }, best),
      // No curve yet (a run that failed before its first step): the numbers take the whole line.
      h('div', { class: 'detail', 'data-testid': 'time' }, time || (run.lastLoss !== null ? `loss ${formatNumber(run.lastLoss)}` : ''))), run.sparkline.length ? spark : null),
    run.error ? h('div', { class: 'line error', 'data-testid': 'error' }, run.error) : null,
    h('div', { class: 'row-actions' },
      actionButton(run, 'open', 'Open', 'Open the training panel', true),
      live ? actionButton(run, 'stop', run.status === 'stopping' ? 'Stop Now' : 'Stop', run.status === 'stopping' ? 'End the trainer process now (the last checkpoint is kept)' : 'Stop after this step (keeps a checkpoint)', true) : null,
      run.resumable ? actionButton(run, 'resume', 'Resume', 'Continue from its checkpoint', true) : null,
      actionButton(run, 'revealAdapter', 'Reveal', 'Reveal the best adapter in the Explorer', hasAdapter),
      actionButton(run, 'saveAdapter', 'Save…', 'Save the adapter into the project', hasAdapter),
      actionButton(run, 'try', 'Try…', 'Try the adapter in the playground', hasAdapter && !live),
      actionButton(run, 'delete', 'Delete…', 'Delete this run folder', !live)),
  );
  li.addEventListener('dblclick', () => vscode.postMessage({ type: 'action', action: 'open', dir: run.dir }));
  li.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target === li) vscode.postMessage({ type: 'action', action: 'open', dir: run.dir });
  });
  return li;
}

const list = byId<HTMLUListElement>('runs');
const compare = byId<HTMLButtonElement>('compare');

function drawToolbar(): void {
  for (const d of [...selected]) if (!runs.some((r) => r.dir === d)) selected.delete(d);
  const n = selected.size;
  compare.textContent = n ? `Compare (${n})` : 'Compare';
  setEnabled(compare, n >= 2);
  compare.title = n >= 2 ? 'Overlay the curves of the selected runs' : 'Select two or more runs (their checkboxes) to compare them';
  const live = runs.filter((r) => r.status === 'running' || r.status === 'stopping').length;
  byId('count').textContent = runs.length ? `${runs.length} run${runs.length > 1 ? 's' : ''}${live ? `, ${live} running` : ''}` : '';
}

/** A sweep's runs under its name, how many are done, and a button that compares them. */
function sweepGroup(group: RunGroup & { sweep: MonitorSweep }): HTMLLIElement {
  const compareSweep = h('button', { class: 'secondary small', 'data-testid': 'compare-sweep', title: `Overlay the curves of this sweep's runs`, 'aria-label': `Compare the runs of ${group.sweep.name}` }, 'Compare');
  setEnabled(compareSweep, group.runs.length >= 2);
  compareSweep.addEventListener('click', () => {
    if (group.runs.length >= 2) vscode.postMessage({ type: 'compare', dirs: group.runs.map((r) => r.dir) });
  });
  return h('li', { class: 'sweep', 'data-testid': 'sweep', 'data-dir': group.sweep.dir, 'data-done': group.done, 'data-total': group.total, title: group.sweep.dir },
    h('div', { class: 'sweep-head' },
      h('span', { class: 'name', 'data-testid': 'sweep-name' }, `Sweep ${group.sweep.name}`),
      h('span', { class: 'detail', 'data-testid': 'sweep-progress' }, `${group.done} of ${group.total} done`), compareSweep),
    h('ul', { class: 'runs', 'aria-label': `Runs of the sweep ${group.sweep.name}` }, ...group.runs.map(row)));
}

function drawAll(): void {
  list.replaceChildren(...groupRuns(runs, sweeps).map((g) => (g.sweep ? sweepGroup(g as RunGroup & { sweep: MonitorSweep }) : row(g.runs[0]))));
  byId('empty').hidden = !loaded || runs.length > 0;
  byId('toolbar').hidden = runs.length === 0;
  drawToolbar();
  byId('app').dataset.ready = String(loaded);
  byId('app').dataset.runs = String(runs.length);
}
const redraw = frameScheduler(drawAll);

function updateRow(run: MonitorRun): void {
  const i = runs.findIndex((r) => r.dir === run.dir);
  if (i < 0) {
    runs.unshift(run);
    return redraw();
  }
  const statusChanged = runs[i].status !== run.status;
  runs[i] = run;
  // A sweep's header counts its finished runs: a run of a sweep that changes status redraws the list (a step only its row).
  if (statusChanged && sweeps.some((s) => s.runs.includes(run.dir))) return redraw();
  const old = list.querySelector<HTMLLIElement>(`li[data-dir="${CSS.escape(run.dir)}"]`);
  if (!old) return redraw();
  // Keep the keyboard focus where it was: on the row, or on the same button or checkbox of the new row.
  const focused = document.activeElement as HTMLElement | null;
  const inner = focused && old.contains(focused) && focused !== old ? (focused.dataset.action ? `[data-action="${focused.dataset.action}"]` : focused.dataset.testid ? `[data-testid="${focused.dataset.testid}"]` : null) : null;
  const fresh = row(run);
  old.replaceWith(fresh);
  if (focused === old) fresh.focus();
  else if (inner) fresh.querySelector<HTMLElement>(inner)?.focus();
  drawToolbar();
}

window.addEventListener('message', (event: MessageEvent<HostToMonitor>) => {
  const m = event.data;
  switch (m.type) {
    case 'runs':
      runs = m.runs;
      sweeps = m.sweeps;
      loaded = true;
      redraw();
      break;
    case 'run':
      updateRow(m.run);
      break;
    default:
      assertNever(m);
  }
});

compare.addEventListener('click', () => {
  if (selected.size >= 2) vscode.postMessage({ type: 'compare', dirs: runs.filter((r) => selected.has(r.dir)).map((r) => r.dir) });
});
byId('train').addEventListener('click', () => vscode.postMessage({ type: 'train' }));

vscode.postMessage({ type: 'ready' });
