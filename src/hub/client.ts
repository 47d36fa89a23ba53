// The Hugging Face Hub's HTTP API, as much of it as a download needs: a revision's commit and file list
// (/api/<type>s/<id>/revision/<rev>), each file's size and content hash (/api/<type>s/<id>/paths-info/<commit>) and
// its bytes (/<id>/resolve/<commit>/<path>, with Range). HF_ENDPOINT, HF_TOKEN and the token file
// `huggingface-cli login` writes are honoured as huggingface_hub honours them. The token is sent to the Hub only
// (never to the storage a large file redirects to) and never appears in a message.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hfHome, type RepoType } from './cache';

export type HubErrorKind = 'not-found' | 'revision' | 'gated' | 'auth' | 'offline' | 'network' | 'integrity' | 'space' | 'refused' | 'cancelled' | 'server';

/** Anything that stops a Hub download, said for people (no stack, no token). */
export class HubError extends Error {
  override name = 'HubError';
  constructor(readonly kind: HubErrorKind, message: string) {
    super(message);
  }
}

export interface HubEnv {
  endpoint: string;
  token: string | null;
}

/** The Hub's address and the user's token, read as huggingface_hub reads them. */
export function hubEnv(env: NodeJS.ProcessEnv = process.env): HubEnv {
  const endpoint = (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
  const fromEnv = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN;
  if (fromEnv?.trim()) return { endpoint, token: fromEnv.trim() };
  const file = env.HF_TOKEN_PATH ? path.resolve(env.HF_TOKEN_PATH) : path.join(hfHome(env), 'token');
  let token: string | null = null;
  try {
    token = fs.readFileSync(file, 'utf8').trim() || null;
  } catch {
    /* not logged in */
  }
  return { endpoint, token };
}

/** A file of a repository at a commit, as the Hub describes it. */
export interface RemoteFile {
  path: string;
  size: number;
  /** The git blob id (sha1 of "blob <size>\0" + the content as git stores it; for LFS files, of the pointer). */
  oid: string;
  /** LFS files: the sha256 of the content. */
  sha256?: string;
}

/** The cache's name for a file's blob: the sha256 for LFS files, the git blob id otherwise (as huggingface_hub). */
export function blobName(f: RemoteFile): string {
  return f.sha256 ?? f.oid;
}

export interface RevisionInfo {
  commit: string;
  files: string[];
  gated: boolean;
  private: boolean;
}

/** The Hub's JSON fields this client reads. */
interface RawInfo {
  sha?: unknown;
  siblings?: { rfilename?: unknown }[];
  gated?: unknown;
  private?: unknown;
}
interface RawPath {
  type?: unknown;
  path?: unknown;
  size?: unknown;
  oid?: unknown;
  lfs?: { oid?: unknown; sha256?: unknown; size?: unknown } | null;
}

const TIMEOUT_MS = () => 1000 * (Number(process.env.HF_HUB_ETAG_TIMEOUT) > 0 ? Number(process.env.HF_HUB_ETAG_TIMEOUT) : 10);

export class HubClient {
  readonly endpoint: string;
  private readonly token: string | null;
  constructor(env: NodeJS.ProcessEnv = process.env) {
    ({ endpoint: this.endpoint, token: this.token } = hubEnv(env));
  }

  get hasToken(): boolean {
    return this.token !== null;
  }

  /** The web page of a repository (where its licence is accepted). */
  page(type: RepoType, id: string): string {
    return `${this.endpoint}/${type === 'dataset' ? 'datasets/' : ''}${id}`;
  }

  /** The commit a revision points to and the repository's file names there. */
  async revisionInfo(type: RepoType, id: string, revision: string, signal?: AbortSignal): Promise<RevisionInfo> {
    const url = `${this.endpoint}/api/${type}s/${id}/revision/${encodeURIComponent(revision)}`;
    const res = await this.request(url, { signal, what: { type, id, revision } });
    const raw = (await readJson(res, url)) as RawInfo;
    if (typeof raw.sha !== 'string' || !/^[0-9a-f]{40}$/.test(raw.sha) || !Array.isArray(raw.siblings)) {
      throw new HubError('server', `${url} did not answer with a repository's commit and files (is HF_ENDPOINT=${this.endpoint} a Hugging Face Hub?).`);
    }
    const files = raw.siblings.map((s) => s.rfilename).filter((f): f is string => typeof f === 'string');
    return { commit: raw.sha, files, gated: raw.gated !== undefined && raw.gated !== false && raw.gated !== null, private: raw.private === true };
  }

  /** Size and hashes of the named files at a commit (one request for all of them). */
  async pathsInfo(type: RepoType, id: string, commit: string, paths: string[], signal?: AbortSignal): Promise<RemoteFile[]> {
    const url = `${this.endpoint}/api/${type}s/${id}/paths-info/${commit}`;
    const body = new URLSearchParams();
    for (const p of paths) body.append('paths', p);
    body.append('expand', 'false');
    const res = await this.request(url, { signal, method: 'POST', body: body.toString(), contentType: 'application/x-www-form-urlencoded', what: { type, id, revision: commit } });
    const raw = await readJson(res, url);
    if (!Array.isArray(raw)) throw new HubError('server', `${url} did not answer with a list of files.`);
    const byPath = new Map<string, RemoteFile>();
    for (const e of raw as RawPath[]) {
      if (e.type !== 'file' || typeof e.path !== 'string' || typeof e.size !== 'number' || typeof e.oid !== 'string') continue;
      const sha256 = e.lfs ? (typeof e.lfs.oid === 'string' ? e.lfs.oid : e.lfs.sha256) : undefined;
      const lfsSize = e.lfs && typeof e.lfs.size === 'number' ? e.lfs.size : undefined;
      if (e.lfs && (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256))) throw new HubError('server', `${url}: ${e.path} is stored with LFS but the Hub gave no sha256 for it.`);
      byPath.set(e.path, { path: e.path, size: lfsSize ?? e.size, oid: e.oid, ...(sha256 ? { sha256: sha256 as string } : {}) });
    }
    const missing = paths.filter((p) => !byPath.has(p));
    if (missing.length) throw new HubError('server', `${id}@${commit.slice(0, 12)}: the Hub lists ${missing.join(', ')} but gives no size or hash for ${missing.length > 1 ? 'them' : 'it'}.`);
    return paths.map((p) => byPath.get(p)!);
  }

  /** The download address of a file at a commit. */
  fileUrl(type: RepoType, id: string, commit: string, file: string): string {
    return `${this.endpoint}/${type === 'dataset' ? 'datasets/' : ''}${id}/resolve/${commit}/${file.split('/').map(encodeURIComponent).join('/')}`;
  }

  /**
   * A file's bytes from `from` on (HTTP Range). Redirects are followed here, so that the token goes only to the
   * Hub's own address and not to the storage large files are served from.
   */
  async openFile(type: RepoType, id: string, commit: string, file: string, from: number, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { 'Accept-Encoding': 'identity' };
    if (from > 0) headers.Range = `bytes=${from}-`;
    return this.request(this.fileUrl(type, id, commit, file), { signal, headers, what: { type, id, revision: commit, file }, noTimeout: true });
  }

  private async request(url: string, o: { signal?: AbortSignal; method?: string; body?: string; contentType?: string; headers?: Record<string, string>; what: What; noTimeout?: boolean }): Promise<Response> {
    const origin = new URL(this.endpoint).origin;
    const timeout = o.noTimeout ? null : AbortSignal.timeout(TIMEOUT_MS());
    const signal = timeout && o.signal ? AbortSignal.any([o.signal, timeout]) : timeout ?? o.signal;
    let current = url;
    for (let hops = 0; hops < 10; hops++) {
      const headers: Record<string, string> = { 'User-Agent': 'ulpt-studio', ...o.headers };
      if (this.token && new URL(current).origin === origin) headers.Authorization = `Bearer ${this.token}`;
      if (o.contentType) headers['Content-Type'] = o.contentType;
      let res: Response;
      try {
        res = await fetch(current, { method: o.method ?? 'GET', headers, body: o.body, redirect: 'manual', signal });
      } catch (e) {
        if (o.signal?.aborted) throw new HubError('cancelled', 'The download was cancelled.');
        if (timeout?.aborted) throw new HubError('network', `The Hub at ${this.endpoint} did not answer within ${TIMEOUT_MS() / 1000} s (HF_HUB_ETAG_TIMEOUT). Check the network, or set HF_HUB_OFFLINE=1 to use only the cache.`);
        throw new HubError('network', `Cannot reach the Hub at ${this.endpoint} (${networkCause(e)}). Check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only what is in the cache.`);
      }
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.body?.cancel();
        current = new URL(location, current).toString();
        // POST requests are not redirected by the Hub; a redirect of a download is always a GET.
        o = { ...o, method: 'GET', body: undefined, contentType: undefined };
        continue;
      }
      if (res.ok) return res;
      await res.body?.cancel();
      throw this.statusError(res, o.what);
    }
    throw new HubError('server', `${url}: too many redirects.`);
  }

  /** The Hub's refusal in words: what was not found, or what to do to get access. */
  private statusError(res: Response, w: What): HubError {
    const code = res.headers.get('x-error-code');
    const said = res.headers.get('x-error-message');
    const name = `${w.type === 'dataset' ? 'dataset' : 'model'} ${w.id}`;
    const page = this.page(w.type, w.id);
    if (code === 'GatedRepo' || (res.status === 403 && /gated|restricted|awaiting a review/i.test(said ?? ''))) {
      return new HubError('gated', this.token
        ? `The ${name} is gated and the token in use has no access to it. Open ${page}, accept its licence with the account the token belongs to (some need the authors' approval), then retry.`
        : `The ${name} is gated: open ${page}, log in and accept its licence, then create a read token (${this.endpoint}/settings/tokens) and set HF_TOKEN to it (or run huggingface-cli login).`);
    }
    if (code === 'RevisionNotFound') return new HubError('revision', `The ${name} has no revision "${w.revision}" (a branch, tag or commit) on ${this.endpoint}.`);
    if (code === 'EntryNotFound' && w.file) return new HubError('not-found', `The ${name} has no file ${w.file} at ${w.revision.slice(0, 12)}.`);
    if (code === 'RepoNotFound' || res.status === 404 || (res.status === 401 && !this.token)) {
      return new HubError('not-found', `There is no ${name} on ${this.endpoint}${this.token ? ' that the token in use can read' : ''}. Check the name${this.token ? '' : '; if it is private, set HF_TOKEN to a token that can read it (or run huggingface-cli login)'}.`);
    }
    if (res.status === 401) return new HubError('auth', `The Hub at ${this.endpoint} refused the token in use (HF_TOKEN or the token file of huggingface-cli login): it is invalid or expired.`);
    if (res.status === 403) return new HubError('auth', `The Hub refused access to the ${name}${said ? `: ${said}` : ''}.`);
    if (res.status === 429) return new HubError('server', `The Hub at ${this.endpoint} asks to slow down (429 Too Many Requests); retry in a minute${this.token ? '' : ', or set HF_TOKEN (logged-in users get higher limits)'}.`);
    return new HubError('server', `The Hub at ${this.endpoint} answered ${res.status} ${res.statusText} for the ${name}${said ? `: ${said}` : ''}. Try again later.`);
  }
}

interface What {
  type: RepoType;
  id: string;
  revision: string;
  file?: string;
}

async function readJson(res: Response, url: string): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HubError('server', `${url} did not answer with JSON (is HF_ENDPOINT a Hugging Face Hub?).`);
  }
}

/** A fetch failure's cause in words ("connection refused"), without a stack. */
export function networkCause(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused', ENOTFOUND: 'no such host', EAI_AGAIN: 'the name could not be looked up', ETIMEDOUT: 'timed out',
    ECONNRESET: 'the connection was reset', EHOSTUNREACH: 'the host is unreachable', ENETUNREACH: 'the network is unreachable',
    UND_ERR_SOCKET: 'the connection closed', UND_ERR_CONNECT_TIMEOUT: 'the connection timed out', CERT_HAS_EXPIRED: 'its certificate has expired',
  };
  return (cause?.code && words[cause.code]) || cause?.code || cause?.message || (e as Error).message || String(e);
}
