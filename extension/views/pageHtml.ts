// The page of the monitor, comparison, inspector and playground webviews: the same strict CSP as the training panel
// (scripts and styles only from dist/ with this page's nonce), one bundle and its stylesheet, and the view's static
// skeleton, which its script fills from the host's state.
import * as vscode from 'vscode';
import { contentSecurityPolicy, makeNonce } from './panelHtml';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Escapes text for the HTML skeletons. */
export const html = esc;

export interface PageOptions {
  webview: vscode.Webview;
  extensionUri: vscode.Uri;
  /** The bundle's name under dist/views/ (monitor → dist/views/monitor.js and .css). */
  bundle: string;
  title: string;
  /** The skeleton inside <body>; attribute values and text must be escaped by the caller. */
  body: string;
}

/** The webview options every view of ours uses: scripts on, nothing loaded from outside dist/. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist')] };
}

export function pageHtml(o: PageOptions): string {
  const nonce = makeNonce();
  const dist = vscode.Uri.joinPath(o.extensionUri, 'dist', 'views');
  const script = o.webview.asWebviewUri(vscode.Uri.joinPath(dist, `${o.bundle}.js`)).toString();
  const style = o.webview.asWebviewUri(vscode.Uri.joinPath(dist, `${o.bundle}.css`)).toString();
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${esc(contentSecurityPolicy(o.webview.cspSource, nonce))}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" href="${esc(style)}" nonce="${esc(nonce)}">
  <title>${esc(o.title)}</title>
</head>
<body>
${o.body}
  <script nonce="${esc(nonce)}" src="${esc(script)}"></script>
</body>
</html>
`;
}
