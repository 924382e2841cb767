/**
 * `--prune-vocab`: in small encoders the word-embedding table is most of the model, and a task
 * uses a small part of a general vocabulary. Keep the tokens the task's texts use, plus the
 * special tokens and every single character and `##` character (so a word the full vocabulary
 * could split is still split, never turned into [UNK]); drop the other rows of the table and
 * renumber the vocabulary to match.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { EncodedExample } from '../data/encode.js';
import { loadTokenizer } from '../data/load-tokenizer.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { WordPieceTokenizer } from '../data/wordpiece.js';
import type { OutputPlan } from './output-files.js';
import { UserError } from '../errors.js';
import { wordEmbeddingTable } from '../data/model-vocab.js';
import type { ModelProto } from '../onnx/proto.js';
import { makeTensor, tensorDims, tensorToArray } from '../onnx/tensor.js';

export interface VocabPruning {
  /** Old ids kept, ascending: new id i is old id keptIds[i]. */
  keptIds: number[];
  /** Old id -> new id, -1 where dropped. */
  oldToNew: Int32Array;
  tokensBefore: number;
  /** The rewritten tokenizer file (vocab.txt or tokenizer.json), same name. */
  tokenizerText: string;
  /** tokenizer_config.json rewritten when it numbers tokens (added_tokens_decoder), else undefined. */
  tokenizerConfigText?: string;
}

/** Token ids the encoded texts use (at least `minCount` times). */
export function usedTokenIds(examples: Iterable<Pick<EncodedExample, 'ids'>>, minCount = 1): Set<number> {
  const counts = new Map<number, number>();
  for (const e of examples) for (const id of e.ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return new Set([...counts].filter(([, c]) => c >= minCount).map(([id]) => id));
}

/**
 * Which single-character entries a WordPiece tokenizer can ever produce: after its
 * normalization (lower-casing, accent stripping) and splitting (punctuation and CJK
 * ideographs become words of their own, so never `##` continuations), `##!` or `##北` cannot
 * occur. Undefined for other tokenizers (then every single character is kept).
 */
export function producibleBy(tokenizer: Tokenizer): ((token: string) => boolean) | undefined {
  if (!(tokenizer instanceof WordPieceTokenizer)) return undefined;
  return (token) => {
    const probe = token.startsWith('##') ? `a${token.slice(2)}` : token;
    const words = tokenizer.basicTokens(probe);
    return words.length === 1 && words[0] === probe;
  };
}

/** A token that must stay whatever the texts: specials ([CLS], <s>) and single characters, bare or `##` (those the tokenizer can produce). */
function alwaysKept(token: string, producible: ((token: string) => boolean) | undefined): boolean {
  if (/^\[[A-Z]+\]$/.test(token) || /^<\/?[a-z]+>$/.test(token)) return true;
  const bare = token.startsWith('##') ? token.slice(2) : token;
  return [...bare].length === 1 && (producible?.(token) ?? true);
}

/**
 * Which tokens to keep and the tokenizer files rewritten for them. `file` is the tokenizer's
 * path (for messages), `text` its content: a WordPiece vocab.txt (one token per line) or a
 * tokenizer.json with a WordPiece model.
 */
export function planVocabPruning(
  file: string,
  text: string,
  used: ReadonlySet<number>,
  opts: { tokenizerConfig?: string; producible?: (token: string) => boolean } = {},
): VocabPruning {
  const tokenizerConfig = opts.tokenizerConfig;
  let tokens: string[];
  let json: Record<string, unknown> | undefined;
  if (file.endsWith('.json')) {
    json = JSON.parse(text) as Record<string, unknown>;
    const model = json.model as { type?: string; vocab?: Record<string, number> } | undefined;
    if (model?.type !== 'WordPiece' || !model.vocab) {
      throw new UserError(`${file}: --prune-vocab handles WordPiece vocabularies (vocab.txt, or a WordPiece tokenizer.json); this is ${model?.type ?? 'an unknown model'}`);
    }
    tokens = [];
    for (const [t, id] of Object.entries(model.vocab)) tokens[id] = t;
    for (const a of (json.added_tokens as Array<{ id: number; content: string }> | undefined) ?? []) tokens[a.id] ??= a.content;
  } else {
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    tokens = lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  }
  const keptIds: number[] = [];
  const oldToNew = new Int32Array(tokens.length).fill(-1);
  tokens.forEach((t, id) => {
    if (t === undefined || !(used.has(id) || alwaysKept(t, opts.producible))) return;
    oldToNew[id] = keptIds.length;
    keptIds.push(id);
  });
  for (const id of used) {
    if (id < 0 || id >= tokens.length) throw new UserError(`${file}: the texts use token id ${id}, beyond the ${tokens.length} tokens of the vocabulary`);
  }
  const remap = (id: number) => {
    const n = oldToNew[id];
    if (n === undefined || n < 0) throw new UserError(`${file}: special token id ${id} is not kept by --prune-vocab`);
    return n;
  };
  let tokenizerText: string;
  if (json) {
    const model = json.model as { vocab: Record<string, number> };
    model.vocab = Object.fromEntries(keptIds.map((id, i) => [tokens[id]!, i]));
    json.added_tokens = ((json.added_tokens as Array<{ id: number }> | undefined) ?? []).filter((a) => oldToNew[a.id]! >= 0).map((a) => ({ ...a, id: remap(a.id) }));
    const padding = json.padding as { pad_id?: number } | null | undefined;
    if (padding?.pad_id !== undefined) padding.pad_id = remap(padding.pad_id);
    remapSpecialIds(json.post_processor, remap);
    tokenizerText = JSON.stringify(json, null, 2);
  } else {
    tokenizerText = keptIds.map((id) => tokens[id]).join('\n') + '\n';
  }
  let tokenizerConfigText: string | undefined;
  if (tokenizerConfig) {
    const cfg = JSON.parse(tokenizerConfig) as Record<string, unknown>;
    const decoder = cfg.added_tokens_decoder as Record<string, unknown> | undefined;
    if (decoder && typeof decoder === 'object') {
      cfg.added_tokens_decoder = Object.fromEntries(
        Object.entries(decoder)
          .filter(([id]) => oldToNew[Number(id)] !== undefined && oldToNew[Number(id)]! >= 0)
          .map(([id, v]) => [String(oldToNew[Number(id)]), v]),
      );
      tokenizerConfigText = JSON.stringify(cfg, null, 2) + '\n';
    }
  }
  return { keptIds, oldToNew, tokensBefore: tokens.length, tokenizerText, ...(tokenizerConfigText ? { tokenizerConfigText } : {}) };
}

/** TemplateProcessing (and Sequence of them) name special tokens with their ids. */
function remapSpecialIds(post: unknown, remap: (id: number) => number): void {
  if (!post || typeof post !== 'object') return;
  const p = post as { processors?: unknown[]; special_tokens?: Record<string, { ids?: number[] }>; sep?: [string, number]; cls?: [string, number] };
  for (const sub of p.processors ?? []) remapSpecialIds(sub, remap);
  for (const s of Object.values(p.special_tokens ?? {})) if (s.ids) s.ids = s.ids.map(remap);
  if (Array.isArray(p.sep)) p.sep = [p.sep[0], remap(p.sep[1])];
  if (Array.isArray(p.cls)) p.cls = [p.cls[0], remap(p.cls[1])];
}

/**
 * The model with only the kept rows of its word-embedding table (row i = old row keptIds[i]).
 * The model's other initializers are shared, not copied.
 */
export function pruneWordEmbeddings(model: ModelProto, keptIds: readonly number[], label = 'student'): { model: ModelProto; table: string; rowsBefore: number } {
  const graph = model.graph;
  const table = graph ? wordEmbeddingTable(graph) : undefined;
  if (!graph || !table) throw new UserError(`${label}: --prune-vocab found no word-embedding table (a 2-D initializer that a Gather indexes with input_ids)`);
  const readers = (graph.node ?? []).filter((n) => (n.input ?? []).includes(table.name ?? ''));
  if (readers.length === 1 && readers[0]!.opType !== 'Gather') {
    throw new UserError(`${label}: the word-embedding table ${table.name} is read through ${readers[0]!.opType} (a quantized table?); --prune-vocab needs the float table`);
  }
  if (readers.length !== 1) throw new UserError(`${label}: the word-embedding table ${table.name} is read by ${readers.length} nodes (tied weights?); --prune-vocab cannot shrink it`);
  const [rows, width] = tensorDims(table) as [number, number];
  const data = tensorToArray(table);
  const Ctor = data.constructor as new (n: number) => typeof data;
  const out = new Ctor(keptIds.length * width);
  keptIds.forEach((id, i) => {
    if (id >= rows) throw new UserError(`${label}: token id ${id} is beyond the ${rows} rows of the word-embedding table`);
    (out as Float32Array).set((data as Float32Array).subarray(id * width, (id + 1) * width), i * width);
  });
  const pruned = makeTensor(table.name ?? '', out, [keptIds.length, width], table.dataType ?? undefined);
  return {
    model: { ...model, graph: { ...graph, initializer: (graph.initializer ?? []).map((t) => (t === table ? pruned : t)) } },
    table: table.name ?? '',
    rowsBefore: rows,
  };
}

/** A pruning decided before training: the plan and the pruned tokenizer, loaded as eval will load it. */
export interface PruningStep {
  plan: VocabPruning;
  tokenizer: Tokenizer;
}

/**
 * Plans the pruning of `tokenizer`'s vocabulary to `used` ids, points the output plan's
 * tokenizer files at the rewritten texts, and loads the pruned tokenizer (from a temporary
 * folder, with the same settings) to encode validation texts the way the written model will
 * see them.
 */
export async function prepareVocabPruning(
  tokenizer: Tokenizer,
  used: ReadonlySet<number>,
  output: OutputPlan,
  settings: { doLowerCase?: boolean; stripAccents?: boolean },
): Promise<PruningStep> {
  const dir = dirname(tokenizer.path);
  const configPath = join(dir, 'tokenizer_config.json');
  const configText = existsSync(configPath) ? await readFile(configPath, 'utf8') : undefined;
  const plan = planVocabPruning(tokenizer.path, await readFile(tokenizer.path, 'utf8'), used, { tokenizerConfig: configText, producible: producibleBy(tokenizer) });
  const name = basename(tokenizer.path);
  output.tokenizer = output.tokenizer.map((t) =>
    t.name === name
      ? { name: t.name, to: t.to, text: plan.tokenizerText }
      : t.name === 'tokenizer_config.json' && plan.tokenizerConfigText !== undefined
        ? { name: t.name, to: t.to, text: plan.tokenizerConfigText }
        : t,
  );
  const tmp = await mkdtemp(join(tmpdir(), 'distillery-vocab-'));
  try {
    await writeFile(join(tmp, name), plan.tokenizerText);
    if (configText !== undefined) await writeFile(join(tmp, 'tokenizer_config.json'), plan.tokenizerConfigText ?? configText);
    const pruned = await loadTokenizer(join(tmp, name), { maxLength: tokenizer.maxLength, ...settings });
    return { plan, tokenizer: pruned };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
