// The VS Code side arrives with the extension issue; until then activation does nothing.
import type * as vscode from 'vscode';

export function activate(_context: vscode.ExtensionContext): void {}
export function deactivate(): void {}
