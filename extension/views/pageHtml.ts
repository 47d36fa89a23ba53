// The page of the monitor, comparison, inspector and playground webviews: the same strict CSP as the training panel
// (scripts and styles only from dist/ with this page's nonce), one bundle and its stylesheet, and the view's static
// skeleton, which its script fills from the host's state.
import * as vscode from 'vscode';
import { documentHtml, esc, makeNonce } from './panelHtml';

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
  const dist = vscode.Uri.joinPath(o.extensionUri, 'dist', 'views');
  return documentHtml({
    cspSource: o.webview.cspSource,
    nonce: makeNonce(),
    scriptUri: o.webview.asWebviewUri(vscode.Uri.joinPath(dist, `${o.bundle}.js`)).toString(),
    styleUri: o.webview.asWebviewUri(vscode.Uri.joinPath(dist, `${o.bundle}.css`)).toString(),
    title: o.title,
    body: o.body,
  });
}
