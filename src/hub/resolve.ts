// The one place a model or data reference becomes a local path. A folder or file on disk is used as is; a Hub
// model ("org/name[@revision]") or dataset file ("hf://datasets/org/name[@revision]/path", globs allowed) is taken
// from the Hugging Face cache when it is there and downloaded into it when not. Only the files a model needs are
// fetched (config, tokenizer, safetensors weights); pickle weights are never downloaded.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainConfig } from '../config';
import { DatasetError } from '../data/errors';
import { byPath, dataFiles, dataPresent, globMatcher } from '../data/files';
import { COMMIT, hubCacheDir, hubOffline, RepoCache, type RepoType } from './cache';
import { HubClient, HubError, type RevisionInfo } from './client';
import { fetchFiles, type DownloadProgress } from './download';
import { DATASET_PREFIX, isHubDataRef, parseDatasetRef, parseModelRef, type HubOrigin, type HubSources } from './refs';

export { HubError } from './client';
export type { DownloadProgress } from './download';
export type { HubOrigin, HubSources } from './refs';

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** One line for people: "using the cached …", "downloading 3 files (540 MB) …". */
  onNote?: (message: string) => void;
}

/** A repository at a commit, in the cache. */
export interface Snapshot {
  /** The snapshot folder: <cache>/<type>s--org--name/snapshots/<commit>. */
  dir: string;
  repo: string;
  revision: string;
  commit: string;
  /** The repository files this snapshot was asked for (paths inside `dir`). */
  files: string[];
  /** Bytes received over the network (0: everything came from the cache). */
  received: number;
}

/** The files of a model repository besides its weights that training and inference read: config and tokenizer. */
const MODEL_FILE = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|added_tokens\.json|vocab\.json|vocab\.txt|merges\.txt|tokenizer\.model|spiece\.model|sentencepiece\.bpe\.model)$/;
const INDEX = 'model.safetensors.index.json';
/** Weights as Python pickles: loading one can run code, so they are never fetched. */
const PICKLE = /\.(bin|pt|pth|ckpt|pkl)$/;

/**
 * The files of a model repository (`all`: its file names) that a model needs: config and tokenizer files, and the
 * weights both engines read — the shards model.safetensors.index.json names (read through `read`), else
 * model.safetensors. Other safetensors files (a repo's "consolidated" copy, adapters) are not fetched. A repository
 * without them is refused, naming why.
 */
export async function modelFiles(id: string, all: string[], read: (file: string) => Promise<Buffer>): Promise<string[]> {
  if (!all.includes('config.json')) throw new HubError('refused', `The model ${id} has no config.json: it is not a transformers model.`);
  const other = all.filter((f) => MODEL_FILE.test(f));
  if (all.includes(INDEX)) return [...other, INDEX, ...(await indexShards(id, all, await read(INDEX)))];
  if (all.includes('model.safetensors')) return [...other, 'model.safetensors'];
  const pickles = all.filter((f) => PICKLE.test(f));
  throw new HubError('refused', pickles.length
    ? `The model ${id} has its weights only as pickle files (${pickles.slice(0, 3).join(', ')}), which can run code when loaded; ULPT Studio reads only safetensors weights. Look for a version of it with safetensors weights (the Hub's "convert to safetensors" pull requests are revisions refs/pr/N: ${id}@refs/pr/N).`
    : `The model ${id} has neither model.safetensors nor ${INDEX} (the weight files transformers reads).`);
}

function indexShards(id: string, all: string[], bytes: Buffer): string[] {
  let map: unknown;
  try {
    map = (JSON.parse(bytes.toString('utf8')) as { weight_map?: unknown }).weight_map;
  } catch {
    throw new HubError('refused', `The model ${id}'s ${INDEX} is not valid JSON.`);
  }
  const shards = map && typeof map === 'object' ? [...new Set(Object.values(map))] : [];
  if (!shards.length || !shards.every((s): s is string => typeof s === 'string' && s.endsWith('.safetensors'))) throw new HubError('refused', `The model ${id}'s ${INDEX} names no safetensors shards (weight_map).`);
  const missing = shards.filter((s) => !all.includes(s));
  if (missing.length) throw new HubError('refused', `The model ${id}'s ${INDEX} names ${missing.join(', ')}, which the repository does not have.`);
  return shards;
}

/**
 * A snapshot folder holds a usable model when it has config.json, a tokenizer and every safetensors file its
 * index names (or model.safetensors). Decides whether the cache can answer without asking the Hub.
 */
export function cachedModelComplete(dir: string): boolean {
  const has = (f: string) => fs.existsSync(path.join(dir, f));
  if (!has('config.json') || !['tokenizer.json', 'tokenizer.model', 'spiece.model', 'vocab.json'].some(has)) return false;
  if (has('model.safetensors.index.json')) {
    try {
      const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map?: Record<string, string> };
      const shards = [...new Set(Object.values(index.weight_map ?? {}))];
      return shards.length > 0 && shards.every(has);
    } catch {
      return false;
    }
  }
  return has('model.safetensors');
}

/**
 * A model reference → a local folder. An existing folder is itself; "org/name[@revision]" is the cache's snapshot
 * (downloaded when missing, offline: the cache only).
 */
export async function resolveModelRef(ref: string, o: ResolveOptions = {}): Promise<{ dir: string; hub?: HubOrigin }> {
  if (fs.existsSync(ref)) return { dir: path.resolve(ref) };
  const parsed = parseModelRef(ref);
  if (!parsed) throw new HubError('not-found', `${ref} is neither a model folder (no such folder: ${path.resolve(ref)}) nor a Hugging Face Hub id (org/name, or org/name@revision).`);
  const snap = await downloadModel(ref, o).catch((e: unknown) => Promise.reject(notAFolderEither(e, ref)));
  return { dir: snap.dir, hub: { ref, type: 'model', repo: snap.repo, revision: snap.revision, commit: snap.commit } };
}

/**
 * "org/name" is also how a mistyped local folder reads: when the Hub does not have it either, the message says that
 * no such folder exists, so a path typo is not mistaken for a Hub problem.
 */
function notAFolderEither(e: unknown, ref: string): unknown {
  if (!(e instanceof HubError) || !['not-found', 'offline', 'network'].includes(e.kind)) return e;
  return new HubError(e.kind, `${ref} is not a folder here, so it was taken as a Hugging Face Hub id. ${e.message}`);
}

/**
 * A Hub model in the cache: its snapshot folder, with the files a model needs. The API the extension's download
 * (progress with Cancel) calls; cancelling through `signal` keeps what arrived, and the next call resumes there.
 */
export async function downloadModel(ref: string, o: ResolveOptions = {}): Promise<Snapshot> {
  const parsed = parseModelRef(ref);
  if (!parsed) throw new HubError('not-found', `${ref} is not a Hugging Face Hub model id (org/name, or org/name@revision).`);
  return snapshot('model', parsed.id, parsed.revision, o, (files, read) => modelFiles(parsed.id, files, read), cachedModelComplete);
}

/** What a Hub dataset reference resolved to in the cache. */
export interface CachedData {
  /** What the data readers take: the cached file, or for a glob that matched several files the same glob inside the snapshot. */
  file: string;
  /** Every cached file it names, in reading order (sorted by path). */
  files: string[];
  hub: HubOrigin;
}

/**
 * A Hub dataset reference ("hf://datasets/org/name[@rev]/path", path a file or a glob) → its files in the cache, all
 * of them downloaded (resumable, checked) before this returns. A glob matching several files (a split in shards,
 * data/train-*.parquet) is read as one dataset in sorted path order.
 */
export async function resolveDataRef(ref: string, o: ResolveOptions = {}): Promise<CachedData> {
  const parsed = parseDatasetRef(ref);
  if (!parsed) {
    throw new HubError('not-found', `${ref} is not a Hub dataset path: write ${DATASET_PREFIX}ORG/NAME/PATH or ${DATASET_PREFIX}ORG/NAME@REVISION/PATH (PATH may hold * and **, e.g. data/train-*.parquet).`);
  }
  const { pattern } = parsed;
  const match = globMatcher(pattern);
  const repo = new RepoCache(hubCacheDir(o.env ?? process.env), 'dataset', parsed.id);
  const pick = async (files: string[]) => matching(ref, pattern, files.filter((f) => match.test(f)).sort(byPath), files);
  // Complete when every file the glob matches at that commit is in place: the commit's listing says which (an
  // interrupted download may have placed only some); a snapshot filled by another client has none, and its matches count.
  const complete = (dir: string) => {
    const listed = repo.listing(path.basename(dir));
    if (!listed) return listFiles(dir).some((f) => match.test(f));
    const wanted = listed.filter((f) => match.test(f));
    return wanted.length > 0 && wanted.every((f) => fs.existsSync(repo.pointer(path.basename(dir), f)));
  };
  const snap = await snapshot('dataset', parsed.id, parsed.revision, o, pick, complete);
  const files = snap.files.map((f) => path.join(snap.dir, ...f.split('/')));
  const several = files.length > 1;
  return {
    file: several ? path.join(snap.dir, ...pattern.split('/')) : files[0],
    files,
    hub: { ref, type: 'dataset', repo: snap.repo, revision: snap.revision, commit: snap.commit, path: several ? pattern : snap.files[0], ...(several ? { files: snap.files } : {}) },
  };
}

function matching(ref: string, pattern: string, matches: string[], all: string[]): string[] {
  if (matches.length) return matches;
  const data = all.filter((f) => /\.(parquet|jsonl|json|csv|tsv)$/.test(f)).slice(0, 8);
  throw new HubError('not-found', `${ref}: no file of the dataset matches ${pattern}.${data.length ? ` Its data files include: ${data.join(', ')}.` : ''}`);
}

export { globMatcher };

function listFiles(dir: string, prefix = ''): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(path.join(dir, prefix), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) return listFiles(dir, rel);
    return fs.existsSync(path.join(dir, rel)) ? [rel] : []; // a symlink whose blob is gone is not a file
  });
}

/**
 * A repository at a revision in the cache, downloaded where needed. Cache first: a pinned commit whose snapshot is
 * complete needs no network at all; a branch or tag asks the Hub once for its current commit (so `main` follows
 * the repository) and transfers nothing when that snapshot is complete. Offline (HF_HUB_OFFLINE), or when the Hub
 * cannot be reached, the cached ref answers.
 */
async function snapshot(type: RepoType, id: string, revision: string, o: ResolveOptions, choose: Chooser, complete: (dir: string) => boolean): Promise<Snapshot> {
  const env = o.env ?? process.env;
  const repo = new RepoCache(hubCacheDir(env), type, id);
  const cached = repo.commitOf(revision);
  const fromCache = async (commit: string): Promise<Snapshot> => {
    const dir = repo.snapshot(commit);
    const files = await choose(listFiles(dir), async (file) => fs.readFileSync(repo.pointer(commit, file)));
    return { dir, repo: id, revision, commit, files, received: 0 };
  };
  if (cached && COMMIT.test(revision) && complete(repo.snapshot(cached))) return await fromCache(cached);
  if (hubOffline(env)) {
    if (cached && complete(repo.snapshot(cached))) return await fromCache(cached);
    throw new HubError('offline', `HF_HUB_OFFLINE is set and the ${type} ${id}${revision === 'main' ? '' : `@${revision}`} is not in the cache, or not all of it that was asked for (looked in ${repo.root}). Download it while online (ulpt download ${type === 'dataset' ? DATASET_PREFIX : ''}${id}${revision === 'main' ? '' : `@${revision}`}), or unset HF_HUB_OFFLINE.`);
  }
  const client = new HubClient(env);
  let info: RevisionInfo;
  try {
    info = await client.revisionInfo(type, id, revision, o.signal);
  } catch (e) {
    if (e instanceof HubError && e.kind === 'network' && cached && complete(repo.snapshot(cached))) {
      o.onNote?.(`${e.message} Using the cached ${id}@${cached.slice(0, 12)} (${revision}).`);
      return await fromCache(cached);
    }
    throw e;
  }
  // A dataset's file list at the commit, for later cache-only answers about its globs.
  if (type === 'dataset') repo.writeListing(info.commit, info.files);
  let received = 0;
  const inPlace = (f: string) => fs.existsSync(repo.pointer(info.commit, f));
  const fetchSome = async (files: string[]) => {
    if (info.gated && !client.hasToken) {
      throw new HubError('gated', `The ${type} ${id} is gated: open ${client.page(type, id)}, log in and accept its licence, then create a read token (${client.endpoint}/settings/tokens) and set HF_TOKEN to it (or run huggingface-cli login).`);
    }
    const remote = await client.pathsInfo(type, id, info.commit, files, o.signal);
    received += (await fetchFiles(client, repo, info.commit, remote, { signal: o.signal, onProgress: o.onProgress })).received;
  };
  const files = await choose(info.files, async (file) => {
    if (!inPlace(file)) await fetchSome([file]);
    return fs.readFileSync(repo.pointer(info.commit, file));
  });
  const missing = files.filter((f) => !inPlace(f));
  if (missing.length) await fetchSome(missing);
  repo.writeRef(revision, info.commit);
  return { dir: repo.snapshot(info.commit), repo: id, revision, commit: info.commit, files, received };
}

/**
 * Which files of a repository (its file names) are wanted; `read` gives a file's bytes (fetched first when needed),
 * for choices that depend on a file's content (a model's shard index).
 */
type Chooser = (files: string[], read: (file: string) => Promise<Buffer>) => Promise<string[]>;

/**
 * A training config with its Hub references resolved, once, before any work: `model` becomes the snapshot folder and
 * `train`/`validation` the cached files, and `hub` records what the user wrote and the commit it resolved to. A
 * run's stored config (already resolved) whose cached files were removed since is fetched again at the same commit.
 */
export async function resolveHubInputs(config: TrainConfig, o: ResolveOptions = {}): Promise<TrainConfig> {
  const hub: HubSources = { ...(config.hub ?? {}) };
  // A missing local data file is said before a download of gigabytes, not after it.
  const refs = [config.model, config.train, config.validation].filter((v) => v !== undefined && (isHubDataRef(v) || (!path.isAbsolute(v) && parseModelRef(v))));
  if (refs.length) {
    for (const file of [config.train, config.validation]) {
      // dataFiles says itself when a glob matches nothing.
      if (file !== undefined && !isHubDataRef(file) && !dataFiles(file).every((f) => fs.existsSync(f))) throw new DatasetError(file, `the dataset file does not exist (looked for ${path.resolve(file)}).`);
    }
  }
  const out: TrainConfig = { ...config };
  const modelRef = !path.isAbsolute(config.model) && parseModelRef(config.model) ? config.model : !fs.existsSync(config.model) && hub.model ? `${hub.model.repo}@${hub.model.commit}` : null;
  if (modelRef) {
    const snap = await downloadModel(modelRef, o).catch((e: unknown) => Promise.reject(modelRef === config.model ? notAFolderEither(e, modelRef) : e));
    out.model = snap.dir;
    // A run's own snapshot fetched again keeps its record (what the user wrote, the revision asked for).
    if (modelRef === config.model) hub.model = { ref: config.model, type: 'model', repo: snap.repo, revision: snap.revision, commit: snap.commit };
  }
  for (const field of ['train', 'validation'] as const) {
    const value = config[field];
    if (value === undefined) continue;
    const earlier = hub[field];
    const ref = isHubDataRef(value) ? value : !cachedDataPresent(value, earlier) && earlier?.path ? `${DATASET_PREFIX}${earlier.repo}@${earlier.commit}/${earlier.path}` : null;
    if (!ref) continue;
    const got = await resolveDataRef(ref, o);
    out[field] = got.file;
    hub[field] = earlier && ref !== value ? earlier : got.hub;
  }
  if (Object.keys(hub).length) out.hub = hub;
  return out;
}

/** A run's resolved data setting is still in the cache: its file, or every file of its glob (none removed since). */
function cachedDataPresent(value: string, earlier: HubOrigin | undefined): boolean {
  if (!dataPresent(value)) return false;
  return !earlier?.files || dataFiles(value).length === earlier.files.length;
}
