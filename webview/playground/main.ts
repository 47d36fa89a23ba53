// The playground (browser side): an input box, and for each answer the model's output with the adapter next to
// its output without it — for classification with every label's probability. The results live in the host; the
// page redraws them from `state` whenever it (re)loads.
import './playground.css';
import type { HostToPlayground, ModelMatch, PlaygroundAnswer, PlaygroundInfo, PlaygroundResult, PlaygroundToHost } from '../../src/protocol';
import { assertNever } from '../../src/protocol';
import { byId, h, setEnabled, vscodeApi } from '../shared/vscodeApi';

interface State {
  file: string;
  draft: string;
}
const vscode = vscodeApi<PlaygroundToHost, State>();
const app = byId('app');
const file = app.dataset.file || vscode.getState()?.file || '';
const input = byId<HTMLTextAreaElement>('input');
input.value = vscode.getState()?.draft ?? '';
const persist = () => vscode.setState({ file, draft: input.value });
persist();

let info: PlaygroundInfo | null = null;
let match: ModelMatch = { state: 'searching', candidates: 0 };
let busy: string | null = null;

function answerCell(a: PlaygroundAnswer, testid: string, expected: string | null): HTMLElement {
  const ok = expected !== null && a.text.trim() === expected.trim();
  const cell = h('div', { class: 'answer', 'data-testid': testid }, h('div', { class: `text${expected !== null ? (ok ? ' right' : ' wrong') : ''}`, 'data-testid': `${testid}-text` }, a.text || '(nothing: the model ended the text at once)'));
  if (a.scores) {
    const list = h('ul', { class: 'scores', 'data-testid': `${testid}-scores` });
    for (const s of a.scores) {
      const bar = h('span', { class: 'bar' });
      bar.style.width = `${(s.probability * 100).toFixed(1)}%`;
      list.append(h('li', { title: `log-likelihood ${s.logProb.toFixed(3)}`, 'data-label': s.label, 'data-probability': s.probability.toFixed(6) },
        h('span', { class: 'label' }, s.label), h('span', { class: 'track' }, bar), h('span', { class: 'p' }, `${(s.probability * 100).toFixed(1)} %`)));
    }
    cell.append(list);
  }
  return cell;
}

function resultItem(r: PlaygroundResult): HTMLLIElement {
  return h('li', { class: 'result', 'data-testid': 'result' },
    h('div', { class: 'input' }, h('span', { class: 'detail' }, 'input '), r.input),
    r.expected !== null ? h('div', { class: 'detail' }, `expected: ${r.expected}`) : null,
    h('div', { class: 'pair' },
      h('div', {}, h('div', { class: 'head' }, 'with the adapter'), answerCell(r.with, 'with', r.expected)),
      h('div', {}, h('div', { class: 'head detail' }, 'without (the frozen model alone)'), answerCell(r.without, 'without', r.expected))),
    h('div', { class: 'detail small' }, `${Math.round(r.ms)} ms`));
}

const results = byId<HTMLOListElement>('results');

function addResult(r: PlaygroundResult): void {
  results.prepend(resultItem(r));
  results.dataset.count = String(results.children.length);
}

function drawMatch(): void {
  const m = byId('model');
  m.dataset.state = match.state;
  // A file that is not an adapter shows its error alone: there is no model to look for.
  m.hidden = !info;
  byId('choose-model').hidden = !info || match.state === 'found' || match.state === 'searching';
  m.textContent = match.state === 'found' ? `on ${match.label}`
    : match.state === 'searching' ? 'looking for the base model…'
    : match.state === 'not-found' ? 'the base model was not found on this machine'
    : `model search failed: ${match.message}`;
  drawControls();
}

function drawControls(): void {
  const can = !!info && match.state !== 'not-found' && match.state !== 'error';
  setEnabled(byId('run'), can && !busy && input.value.trim().length > 0);
  setEnabled(byId('records'), can && !busy);
  byId('busy').textContent = busy ?? (match.state === 'searching' && info ? 'loading the model…' : '');
  app.dataset.busy = String(!!busy);
}

function drawInfo(): void {
  if (!info) return;
  byId('task').textContent = info.task === 'classification' ? `classification: ${info.labels.join(' / ')}` : 'generation';
  byId('input-label').textContent = `Input (${info.inputField})`;
  byId('template').textContent = `The model reads: ${info.template.replace(/\{(\w+)\}/g, (_m, f: string) => (f === 'input' || f === info!.inputField ? '⟨your input⟩' : `{${f}}`))}`;
}

function showError(text: string | null): void {
  byId('error').hidden = !text;
  byId('error-text').textContent = text ?? '';
}

window.addEventListener('message', (event: MessageEvent<HostToPlayground>) => {
  const m = event.data;
  switch (m.type) {
    case 'state':
      info = m.adapter;
      match = m.model;
      busy = m.busy;
      showError(m.error);
      results.replaceChildren();
      for (const r of m.results) addResult(r);
      results.dataset.count = String(m.results.length);
      drawInfo();
      drawMatch();
      app.dataset.ready = 'true';
      break;
    case 'model':
      match = m.match;
      drawMatch();
      break;
    case 'busy':
      busy = m.what;
      if (busy) showError(null);
      drawControls();
      break;
    case 'result':
      addResult(m.result);
      break;
    case 'failed':
      showError(m.message);
      break;
    default:
      assertNever(m);
  }
});

function run(): void {
  if (byId('run').hasAttribute('disabled')) return;
  vscode.postMessage({ type: 'run', input: input.value });
}
byId('run').addEventListener('click', run);
input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    run();
  }
});
input.addEventListener('input', () => {
  persist();
  drawControls();
});
byId('records').addEventListener('click', () => vscode.postMessage({ type: 'pickRecords' }));
byId('clear').addEventListener('click', () => vscode.postMessage({ type: 'clear' }));
byId('choose-model').addEventListener('click', () => vscode.postMessage({ type: 'chooseModel' }));

vscode.postMessage({ type: 'ready' });
