// The training panel's page: a static skeleton that webview/panel/main.ts fills from the host's state. Everything it loads
// comes from dist/ through the webview's own origin; scripts and styles need the nonce of this page.
import { randomBytes } from 'node:crypto';

export interface PanelHtmlOptions {
  /** webview.cspSource */
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUri: string;
  /** The run folder this page shows (kept in the page so a reload can find it before any message). */
  runDir: string;
  title: string;
}

export function makeNonce(): string {
  return randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
  ].join('; ');
}

/** Escapes text for an attribute value or element content. */
export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export interface DocumentOptions {
  /** webview.cspSource */
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUri: string;
  title: string;
  /** What goes inside <body> before the script; attribute values and text escaped by the caller. */
  body: string;
}

/**
 * The page every webview of ours is: the strict CSP (scripts and styles only with this page's nonce, everything
 * else from the webview's own origin), the nonce also offered to the UI toolkit for the styles it injects, one
 * stylesheet, the skeleton, and one script at the end of the body.
 */
export function documentHtml(o: DocumentOptions): string {
  const n = esc(o.nonce);
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${esc(contentSecurityPolicy(o.cspSource, o.nonce))}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <meta property="csp-nonce" content="${n}">
  <link rel="stylesheet" href="${esc(o.styleUri)}" nonce="${n}">
  <title>${esc(o.title)}</title>
</head>
<body>
${o.body}
  <script nonce="${n}" src="${esc(o.scriptUri)}"></script>
</body>
</html>
`;
}

const STATS: [id: string, label: string][] = [
  ['step', 'Step'],
  ['loss', 'Loss'],
  ['lr', 'Learning rate'],
  ['tokens-per-second', 'Tokens/s'],
  ['eta', 'ETA'],
  ['elapsed', 'Elapsed'],
  ['best', 'Best eval'],
  ['params', 'Trainable'],
  ['backend', 'Backend'],
  ['device', 'Device'],
  ['warnings', 'Data warnings'],
];

export function panelHtml(o: PanelHtmlOptions): string {
  const stats = STATS.map(([id, label]) => `      <div class="stat"><span class="label">${label}</span><span class="value" id="${id}" data-testid="${id}">—</span></div>`).join('\n');
  const body = `  <main id="app" data-testid="training-panel" data-run-dir="${esc(o.runDir)}" data-ready="false">
    <header class="title">
      <h1 id="run-name" data-testid="run-name">${esc(o.title)}</h1>
      <span id="status" class="tag" data-testid="status" data-status="loading" role="status">loading</span>
      <vscode-progress-ring id="busy" class="busy" hidden></vscode-progress-ring>
      <span id="run-detail" class="detail" data-testid="run-detail"></span>
    </header>
    <p id="owner" class="detail owner" data-testid="owner" hidden></p>
    <section class="stats" aria-label="Progress">
${stats}
    </section>
    <div class="actions">
      <vscode-button id="stop" data-testid="stop" disabled>Stop</vscode-button>
      <vscode-button id="resume" data-testid="resume" appearance="secondary" hidden>Resume</vscode-button>
      <vscode-button id="save-adapter" data-testid="save-adapter" disabled>Save Adapter…</vscode-button>
      <vscode-button id="try-adapter" data-testid="try-adapter" appearance="secondary" disabled>Try Adapter…</vscode-button>
      <vscode-button id="export-csv" data-testid="export-csv" appearance="secondary" disabled>Export CSV…</vscode-button>
      <vscode-button id="show-log" data-testid="show-log" appearance="secondary">Show Log</vscode-button>
    </div>
    <div id="message" class="message" data-testid="message" role="alert" hidden>
      <p id="message-text" data-testid="message-text"></p>
      <pre id="message-tail" data-testid="message-tail"></pre>
      <p id="message-usable" class="usable" data-testid="message-usable"></p>
    </div>
    <div class="controls" id="controls" hidden>
      <label for="smoothing">Smoothing</label>
      <input type="range" id="smoothing" data-testid="smoothing" min="0" max="0.99" step="0.01" value="0.6">
      <span id="smoothing-value" class="detail">0.60</span>
      <vscode-checkbox id="log-scale" data-testid="log-scale">Log scale</vscode-checkbox>
    </div>
    <section class="chart" id="loss-section" hidden>
      <h2 id="loss-title" data-testid="loss-title">Loss</h2>
      <div id="loss-chart" class="plot" data-testid="loss-chart" data-points="0" data-eval-points="0" data-scale="linear"></div>
    </section>
    <section class="chart" id="metric-section" hidden>
      <h2 id="metric-title">Evaluation</h2>
      <div id="metric-chart" class="plot" data-testid="metric-chart" data-points="0"></div>
    </section>
    <p id="empty" class="detail" data-testid="empty">Waiting for the first step…</p>
  </main>`;
  return documentHtml({ ...o, body });
}
