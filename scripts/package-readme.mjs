// Writes out/marketplace/README.md, the README the .vsix carries (`npm run package` passes it to vsce with
// --readme-path): media/README.md with its images embedded as data: URIs. VS Code's Extensions page renders a
// local extension's README in a webview that cannot load files from the extension folder by relative path, and
// this project has no public repository for vsce to point image links at; embedded images show everywhere,
// offline included. The source stays media/README.md, with ordinary relative links.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const source = 'media/README.md';
const dest = 'out/marketplace/README.md';
const types = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif' };
let count = 0;
const text = readFileSync(source, 'utf8').replace(/!\[([^\]]*)\]\(([^)\s]+)\)/g, (whole, alt, src) => {
  if (/^[a-z]+:/i.test(src)) return whole;
  const type = types[src.split('.').pop().toLowerCase()];
  if (!type) throw new Error(`${source}: ${src} is not a PNG, JPEG or GIF image (the Marketplace refuses SVG in READMEs).`);
  count++;
  return `![${alt}](data:${type};base64,${readFileSync(src).toString('base64')})`;
});
mkdirSync(dirname(dest), { recursive: true });
writeFileSync(dest, text);
console.log(`${join(dest)}: ${source} with ${count} embedded image${count === 1 ? '' : 's'} (${Math.round(text.length / 1024)} KB)`);
