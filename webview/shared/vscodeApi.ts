// The webview side of the channel: typed postMessage / state for one view, and the few DOM helpers the views share.
interface VsCodeApi<Out, State> {
  postMessage(message: Out): void;
  getState(): State | undefined;
  setState(state: State): void;
}
declare function acquireVsCodeApi<Out, State>(): VsCodeApi<Out, State>;

/** acquireVsCodeApi may be called once per page. */
export function vscodeApi<Out, State = unknown>(): VsCodeApi<Out, State> {
  return acquireVsCodeApi<Out, State>();
}

export const byId = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

type Child = Node | string | null | undefined | false;

/** An element with attributes (`class`, `data-*`, `title`, …) and children; text is always set as text, never parsed. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | boolean | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

export function setEnabled(e: HTMLElement, on: boolean): void {
  if (on) e.removeAttribute('disabled');
  else e.setAttribute('disabled', '');
}

/** Runs `draw` once per animation frame however often it is asked for. */
export function frameScheduler(draw: () => void): () => void {
  let frame = 0;
  return () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      draw();
    });
  };
}
