// A stand-in Hugging Face Hub on 127.0.0.1 for the tests (the real Hub is not reachable from the test machines). It
// serves real files from disk over the endpoints the Hub's clients use, as the Hub answers them:
//   GET  /api/{models,datasets}/ORG/NAME/revision/REV          commit (sha), file names (siblings), gated, private
//   GET  /api/{models,datasets}/ORG/NAME/tree/REV[/PATH]       entries with size, git oid and lfs {oid, size}
//   POST /api/{models,datasets}/ORG/NAME/paths-info/REV        the same for the form's `paths`
//   GET/HEAD /[datasets/]ORG/NAME/resolve/REV/PATH             small files directly; LFS files (safetensors, parquet,
//                                                              bin) by a 302 to a second origin (the "CDN"), with
//                                                              X-Repo-Commit, X-Linked-Etag, X-Linked-Size
// Byte ranges (Range: bytes=N-) are honoured. Errors carry the Hub's X-Error-Code (RepoNotFound, RevisionNotFound,
// GatedRepo, EntryNotFound). Faults a test can ask for: cut a transfer after N bytes, corrupt a file's bytes, send a
// file slowly (so that a person, or a test, can press Cancel mid-file). Every request and every byte sent is counted. Both servers listen on loopback only and close themselves after
// `lifetimeMs` even if a test forgets to.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandInRepo {
  type: 'model' | 'dataset';
  id: string;
  /** branch or tag → files (path → bytes); each gets its own commit. */
  revisions: Record<string, Record<string, Uint8Array>>;
  /** Files need a token with access (GOOD_TOKEN); other tokens get 403 GatedRepo. */
  gated?: boolean;
}

export const GOOD_TOKEN = 'hf_standin_good_token_0123456789';
export const NO_ACCESS_TOKEN = 'hf_standin_no_access_token_9876543210';

export interface RequestRecord {
  method: string;
  url: string;
  range: string | null;
  authorized: boolean;
  cdn: boolean;
}

interface Commit {
  sha: string;
  files: Map<string, Uint8Array>;
}

const LFS = /\.(safetensors|parquet|bin|pt|pth|ckpt|model)$/;

export function gitBlobId(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
function lfsPointer(bytes: Uint8Array): Uint8Array {
  return Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(bytes)}\nsize ${bytes.length}\n`);
}

export class StandInHub {
  readonly requests: RequestRecord[] = [];
  /** Bytes of file content sent, by repo path ("org/name:file"). */
  readonly bytesSent = new Map<string, number>();
  /** Transfers of `file` stop after `bytes` (the connection is destroyed), `times` times. */
  cut: { file: string; bytes: number; times: number } | null = null;
  /** Transfers of `file` send `bytes` and then nothing more, keeping the connection open, `times` times. */
  stall: { file: string; bytes: number; times: number } | null = null;
  /** Files whose served bytes have one byte flipped (the listing keeps the true hash). */
  corrupt = new Set<string>();
  /** Transfers of `file` send `bytesPerTick` bytes every `everyMs` (a slow link: Cancel can be pressed mid-file). */
  throttle: { file: string; bytesPerTick: number; everyMs: number } | null = null;
  /** Transfers of files are held this long before the body starts (to overlap two downloads). */
  delayMs = 0;
  /** Sizes the listing claims instead of the true ones (a repo too large for the disk). */
  claimedSize = new Map<string, number>();
  private readonly repos = new Map<string, { repo: StandInRepo; refs: Map<string, Commit>; commits: Map<string, Commit> }>();
  private api!: http.Server;
  private cdn!: http.Server;
  private timer!: NodeJS.Timeout;
  endpoint = '';
  private cdnOrigin = '';

  constructor(repos: StandInRepo[]) {
    for (const repo of repos) {
      const refs = new Map<string, Commit>();
      const commits = new Map<string, Commit>();
      for (const [rev, files] of Object.entries(repo.revisions)) {
        const sha = createHash('sha1').update(`${repo.type}:${repo.id}:${rev}`).digest('hex');
        const commit = { sha, files: new Map(Object.entries(files)) };
        refs.set(rev, commit);
        commits.set(sha, commit);
      }
      this.repos.set(`${repo.type}:${repo.id}`, { repo, refs, commits });
    }
  }

  /** The commit a branch or tag of a repo points to. */
  commitOf(type: 'model' | 'dataset', id: string, revision = 'main'): string {
    return this.repos.get(`${type}:${id}`)!.refs.get(revision)!.sha;
  }

  async start(lifetimeMs = 120_000): Promise<this> {
    this.api = http.createServer((req, res) => this.handle(req, res, false));
    this.cdn = http.createServer((req, res) => this.handle(req, res, true));
    await Promise.all([listen(this.api), listen(this.cdn)]);
    this.endpoint = `http://127.0.0.1:${(this.api.address() as AddressInfo).port}`;
    this.cdnOrigin = `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
    this.timer = setTimeout(() => void this.stop(), lifetimeMs);
    this.timer.unref();
    return this;
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    for (const s of [this.api, this.cdn]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }

  /** The files whose content was sent, one entry per response with a body (with its Range header). */
  readonly served: { file: string; range: string | null }[] = [];

  /** Responses that sent file content, optionally of one file. */
  transfers(file?: string): { file: string; range: string | null }[] {
    return this.served.filter((s) => !file || s.file === file);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, cdn: boolean): void {
    const auth = req.headers.authorization ?? null;
    this.requests.push({ method: req.method ?? 'GET', url: req.url ?? '', range: (req.headers.range as string) ?? null, authorized: auth !== null, cdn });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        if (cdn) return this.serveCdn(req, res);
        this.route(req, res, auth, Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        res.writeHead(500).end(String(e));
      }
    });
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse, auth: string | null, body: string): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] === 'api' && (parts[1] === 'models' || parts[1] === 'datasets')) {
      const type = parts[1] === 'models' ? 'model' : 'dataset';
      const [, , org, name, op, rev, ...rest] = parts;
      const found = this.lookup(res, type, `${org}/${name}`, rev, auth, false);
      if (!found) return;
      const { commit, repo } = found;
      if (op === 'revision') {
        return json(res, { id: repo.id, sha: commit.sha, private: false, gated: repo.gated ? 'manual' : false, siblings: [...commit.files.keys()].map((rfilename) => ({ rfilename })) });
      }
      if (op === 'tree') {
        const prefix = rest.join('/');
        return json(res, [...commit.files].filter(([p]) => !prefix || p.startsWith(`${prefix}/`)).map(([p, b]) => this.entry(p, b)));
      }
      if (op === 'paths-info' && req.method === 'POST') {
        const paths = new URLSearchParams(body).getAll('paths');
        return json(res, paths.filter((p) => commit.files.has(p)).map((p) => this.entry(p, commit.files.get(p)!)));
      }
      return void res.writeHead(404).end();
    }
    const type = parts[0] === 'datasets' ? 'dataset' : 'model';
    const p = type === 'dataset' ? parts.slice(1) : parts;
    const [org, name, op, rev, ...rest] = p;
    if (op !== 'resolve') return void res.writeHead(404).end();
    const found = this.lookup(res, type, `${org}/${name}`, rev, auth, true);
    if (!found) return;
    const file = rest.join('/');
    const bytes = found.commit.files.get(file);
    if (!bytes) return hubError(res, 404, 'EntryNotFound', 'Entry not found');
    const headers: Record<string, string> = { 'X-Repo-Commit': found.commit.sha };
    if (LFS.test(file)) {
      const key = `${found.repo.type}:${found.repo.id}:${found.commit.sha}:${file}`;
      res.writeHead(302, { ...headers, 'X-Linked-Etag': `"${sha256(bytes)}"`, 'X-Linked-Size': String(bytes.length), ETag: `"${gitBlobId(lfsPointer(bytes))}"`, Location: `${this.cdnOrigin}/blob?key=${encodeURIComponent(key)}&file=${encodeURIComponent(file)}` });
      return void res.end();
    }
    this.sendBytes(req, res, `${found.repo.id}:${file}`, file, bytes, { ...headers, ETag: `"${gitBlobId(bytes)}"` });
  }

  private serveCdn(req: http.IncomingMessage, res: http.ServerResponse): void {
    const key = new URL(req.url ?? '/', 'http://x').searchParams.get('key') ?? '';
    const [type, org, sha, ...file] = key.split(':');
    const [repoType, id] = [type, org];
    const entryRepo = this.repos.get(`${repoType}:${id}`);
    const bytes = entryRepo?.commits.get(sha)?.files.get(file.join(':'));
    if (!bytes) return void res.writeHead(404).end();
    this.sendBytes(req, res, `${id}:${file.join(':')}`, file.join(':'), bytes, { ETag: `"${sha256(bytes)}"` });
  }

  /** Repo, access and revision checks, answered as the Hub answers them; null when an error was sent. */
  private lookup(res: http.ServerResponse, type: 'model' | 'dataset', id: string, rev: string | undefined, auth: string | null, files: boolean) {
    const entryRepo = this.repos.get(`${type}:${id}`);
    if (!entryRepo) return void hubError(res, 401, 'RepoNotFound', 'Repository not found');
    const { repo } = entryRepo;
    if (files && repo.gated) {
      if (!auth) return void hubError(res, 401, 'GatedRepo', 'Access to this model is restricted. You must have access to it and be authenticated to access it.');
      if (auth !== `Bearer ${GOOD_TOKEN}`) return void hubError(res, 403, 'GatedRepo', 'Access to this model is restricted and you are not in the authorized list.');
    }
    const commit = entryRepo.refs.get(rev ?? '') ?? entryRepo.commits.get(rev ?? '');
    if (!commit) return void hubError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    return { repo, commit };
  }

  private sendBytes(req: http.IncomingMessage, res: http.ServerResponse, key: string, file: string, bytes: Uint8Array, headers: Record<string, string>): void {
    let body = Buffer.from(bytes);
    if (this.corrupt.has(file)) {
      body = Buffer.from(body);
      body[Math.floor(body.length / 2)] ^= 0xff;
    }
    const m = /^bytes=(\d+)-$/.exec((req.headers.range as string) ?? '');
    const start = m ? Number(m[1]) : 0;
    if (start > body.length) return void res.writeHead(416, { 'Content-Range': `bytes */${body.length}` }).end();
    const part = body.subarray(start);
    const status = m ? 206 : 200;
    const h: Record<string, string> = { ...headers, 'Content-Length': String(part.length), 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
    if (m) h['Content-Range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    if (req.method === 'HEAD') return void res.writeHead(status, h).end();
    const send = () => {
      this.served.push({ file, range: (req.headers.range as string) ?? null });
      res.writeHead(status, h);
      const stall = this.stall && this.stall.file === file && this.stall.times > 0 ? this.stall : null;
      if (stall) {
        stall.times--;
        const n = Math.max(0, stall.bytes - start);
        this.count(key, n);
        res.write(part.subarray(0, n));
        return;
      }
      const cut = this.cut && this.cut.file === file && this.cut.times > 0 ? this.cut : null;
      if (cut) {
        cut.times--;
        const n = Math.max(0, cut.bytes - start);
        this.count(key, n);
        res.write(part.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      const slow = this.throttle && this.throttle.file === file ? this.throttle : null;
      if (slow) return this.sendSlowly(res, key, part, slow);
      this.count(key, part.length);
      res.end(part);
    };
    if (this.delayMs) setTimeout(send, this.delayMs);
    else send();
  }

  /** Writes `part` a tick at a time, counting what was written; stops when the client goes away. */
  private sendSlowly(res: http.ServerResponse, key: string, part: Buffer, slow: { bytesPerTick: number; everyMs: number }): void {
    let at = 0;
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer);
      const chunk = part.subarray(at, at + slow.bytesPerTick);
      at += chunk.length;
      this.count(key, chunk.length);
      if (at < part.length) return void res.write(chunk);
      clearInterval(timer);
      res.end(chunk);
    }, slow.everyMs);
    res.on('close', () => clearInterval(timer));
  }

  private entry(p: string, bytes: Uint8Array) {
    const e = entry(p, bytes, this.claimedSize.get(p) ?? bytes.length);
    return e.lfs && this.claimedSize.has(p) ? { ...e, lfs: { ...e.lfs, size: this.claimedSize.get(p)! } } : e;
  }

  private count(key: string, n: number): void {
    this.bytesSent.set(key, (this.bytesSent.get(key) ?? 0) + n);
  }
}

function entry(p: string, bytes: Uint8Array, size: number) {
  const lfs = LFS.test(p);
  return { type: 'file', path: p, size, oid: gitBlobId(lfs ? lfsPointer(bytes) : bytes), ...(lfs ? { lfs: { oid: sha256(bytes), size: bytes.length, pointerSize: lfsPointer(bytes).length } } : {}) };
}

function json(res: http.ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body);
}

function hubError(res: http.ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'X-Error-Code': code, 'X-Error-Message': message, 'Content-Type': 'application/json' }).end(JSON.stringify({ error: message }));
}

function listen(server: http.Server): Promise<void> {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r()));
}
