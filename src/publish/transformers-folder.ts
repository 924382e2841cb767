import { constants, existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { benchModels } from '../bench/index.js';
import { loadModelConfig, maxSequenceLength } from '../data/model-config.js';
import { bertTokenizerConfig, bertTokenizerJson, vocabTokens, type BertTokenizerSettings } from '../data/tokenizer-json.js';
import { UserError } from '../errors.js';
import { evaluate } from '../eval/index.js';
import { checkModel, loadModel, saveModel } from '../onnx/index.js';
import { makeVariant, transformersFileName, type TransformersDtype, type VariantOptions } from '../quantize/variants.js';
import type { Fp16Report } from '../quantize/fp16/convert.js';

export interface TransformersFolderOptions extends VariantOptions {
  dtypes: TransformersDtype[];
  /** Replace files already in the folder. */
  force?: boolean;
  /** Labelled text data (csv/tsv/jsonl, as `eval` reads it): accuracy of each file vs the fp32 model. */
  evalData?: string;
  /** Time each file at batch 1 (default true). */
  latency?: boolean;
  /** Sequence length of the latency runs (default min(128, the model's position table)). */
  seqLen?: number;
  /** Timed runs per file (default 50). */
  iterations?: number;
  threads?: number;
  onProgress?: (message: string) => void;
}

export interface TransformersFolderFile {
  dtype: TransformersDtype;
  /** Path inside the folder, e.g. onnx/model_q4.onnx. */
  file: string;
  path: string;
  bytes: number;
  /** bytes / the fp32 input's bytes. */
  ratio: number;
  recipe: string;
  /** Quantized weights (0 for fp32/fp16), and what the fp16 pass did. */
  quantizedTensors: number;
  fp16?: Pick<Fp16Report, 'target' | 'halfNodes' | 'casts' | 'clamped'>;
  accuracy?: number;
  /** fp32 accuracy - this file's, in points; positive = worse. */
  dropPoints?: number;
  /** Fraction of examples with the fp32 model's label. */
  agreement?: number;
  /** Median milliseconds at batch 1. */
  latencyMs?: number;
}

export interface TransformersFolderReport {
  schema: 'onnx-distillery/quantize-folder@1';
  folder: string;
  input: string;
  inputBytes: number;
  files: TransformersFolderFile[];
  /** config.json and tokenizer files written next to onnx/. */
  companions: string[];
  /** tokenizer.json (and tokenizer_config.json) made from vocab.txt. */
  tokenizerGenerated: boolean;
  eval?: { data: string; examples: number; fp32Accuracy: number };
  latency?: { batchSize: 1; seqLen: number; iterations: number };
}

/**
 * Writes a model folder transformers.js loads as it is: `<folder>/onnx/model{suffix}.onnx` per
 * dtype, config.json and tokenizer.json + tokenizer_config.json beside `onnx/` (generated from a
 * vocab.txt when the model has no tokenizer.json). Every file is checked (ONNX checker rules,
 * onnxruntime loads it), then sized, timed at batch 1 and evaluated against the fp32 model.
 */
export async function writeTransformersFolder(input: string, folder: string, options: TransformersFolderOptions): Promise<TransformersFolderReport> {
  const progress = options.onProgress ?? (() => {});
  const inputDir = dirname(resolve(input));
  const configPath = join(inputDir, 'config.json');
  if (!existsSync(configPath)) throw new UserError(`${input}: no config.json next to the model; transformers.js needs it (model_type, labels)`);
  const onnxDir = join(folder, 'onnx');
  const targets = options.dtypes.map((d) => ({ dtype: d, file: join('onnx', transformersFileName(d)) }));
  if (!options.force) {
    const existing = targets.map((t) => join(folder, t.file)).filter((p) => existsSync(p));
    if (existing.length) throw new UserError(`${existing[0]}: already exists (use --force to overwrite)`);
  }
  await mkdir(onnxDir, { recursive: true });

  const model = await loadModel(input);
  const inputBytes = (await stat(input)).size;
  const files: TransformersFolderFile[] = [];
  for (const { dtype, file } of targets) {
    progress(`writing ${file}`);
    const variant = makeVariant(model, dtype, { ...options, label: input });
    const problems = checkModel(variant.model);
    if (problems.length) throw new Error(`internal: the ${dtype} variant is not valid ONNX: ${problems.slice(0, 3).join('; ')}`);
    const path = join(folder, file);
    const saved = await saveModel(variant.model, path, { force: options.force, inputs: [input] });
    const bytes = saved.bytes + (saved.externalDataBytes ?? 0);
    const f16 = variant.fp16;
    files.push({
      dtype,
      file,
      path: saved.path,
      bytes,
      ratio: bytes / inputBytes,
      recipe: variant.recipe,
      quantizedTensors: variant.quantize?.tensors.length ?? 0,
      ...(f16 ? { fp16: { target: f16.target, halfNodes: f16.halfNodes, casts: f16.casts, clamped: f16.clamped } } : {}),
    });
  }
  const companions = await writeCompanions(inputDir, folder, options.force ?? false);
  const report: TransformersFolderReport = {
    schema: 'onnx-distillery/quantize-folder@1',
    folder: resolve(folder),
    input,
    inputBytes,
    files,
    companions: companions.written,
    tokenizerGenerated: companions.generated,
  };

  if (options.latency ?? true) {
    const config = await loadModelConfig(input);
    const seqLen = options.seqLen ?? Math.min(128, maxSequenceLength(config) ?? 128);
    const iterations = options.iterations ?? 50;
    progress(`timing ${files.length} files at batch 1, sequence ${seqLen}`);
    const bench = await benchModels(
      files.map((f) => f.path),
      { batchSizes: [1], seqLens: [seqLen], iterations, warmup: 5, placement: false, threads: options.threads, labels: files.map((f) => f.dtype) },
    );
    for (const run of bench.runs) files[run.model]!.latencyMs = run.latencyMs.p50;
    report.latency = { batchSize: 1, seqLen, iterations };
  }

  if (options.evalData) {
    progress(`evaluating ${files.length} files on ${options.evalData}`);
    // The input is the reference (it is what the fp32 file holds).
    const ev = await evaluate({ models: files.map((f) => f.path), teacher: input, data: options.evalData, session: { threads: options.threads } });
    const reference = ev.models[0]!;
    files.forEach((f, i) => {
      const c = ev.comparisons[i]!;
      f.accuracy = c.modelAccuracy;
      f.dropPoints = c.dropPoints;
      f.agreement = c.agreement;
    });
    report.eval = { data: options.evalData, examples: ev.data.examples, fp32Accuracy: reference.accuracy };
  }
  return report;
}

/**
 * config.json, and the tokenizer as transformers.js reads it (tokenizer.json +
 * tokenizer_config.json): copied when the model has them, made from vocab.txt otherwise.
 */
async function writeCompanions(from: string, to: string, force: boolean): Promise<{ written: string[]; generated: boolean }> {
  const written: string[] = [];
  const copy = async (name: string) => {
    const src = join(from, name);
    const dst = join(to, name);
    if (!existsSync(src) || resolve(src) === resolve(dst)) return;
    await copyFile(src, dst, force ? 0 : constants.COPYFILE_EXCL).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'EEXIST') throw new UserError(`${dst}: already exists (use --force to overwrite)`);
      throw e;
    });
    written.push(relative(to, dst));
  };
  const writeJson = async (name: string, value: unknown) => {
    const dst = join(to, name);
    if (existsSync(dst) && !force) throw new UserError(`${dst}: already exists (use --force to overwrite)`);
    const tmp = `${dst}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(value, null, 2) + '\n');
    await rename(tmp, dst);
    written.push(name);
  };
  for (const name of ['config.json', 'special_tokens_map.json', 'vocab.txt']) await copy(name);
  if (existsSync(join(from, 'tokenizer.json'))) {
    await copy('tokenizer.json');
    if (existsSync(join(from, 'tokenizer_config.json'))) await copy('tokenizer_config.json');
    else await writeJson('tokenizer_config.json', {});
    return { written, generated: false };
  }
  if (!existsSync(join(from, 'vocab.txt'))) throw new UserError(`${from}: no tokenizer.json or vocab.txt next to the model; transformers.js needs a tokenizer`);
  const settings = await tokenizerSettings(from);
  await writeJson('tokenizer.json', bertTokenizerJson(vocabTokens(await readFile(join(from, 'vocab.txt'), 'utf8')), settings));
  await writeJson('tokenizer_config.json', bertTokenizerConfig(settings));
  return { written, generated: true };
}

/** The settings `eval` uses for the vocab.txt (tokenizer_config.json, else config.json, else BERT's defaults). */
async function tokenizerSettings(dir: string): Promise<BertTokenizerSettings> {
  const read = async (name: string): Promise<Record<string, unknown>> => {
    try {
      return JSON.parse(await readFile(join(dir, name), 'utf8')) as Record<string, unknown>;
    } catch {
      return {};
    }
  };
  const tc = await read('tokenizer_config.json');
  const config = await read('config.json');
  const bool = (k: string) => (typeof tc[k] === 'boolean' ? (tc[k] as boolean) : typeof config[k] === 'boolean' ? (config[k] as boolean) : undefined);
  const str = (k: string) => (typeof tc[k] === 'string' ? (tc[k] as string) : undefined);
  const max = typeof tc.model_max_length === 'number' && tc.model_max_length < 100_000 ? tc.model_max_length : typeof config.max_position_embeddings === 'number' ? config.max_position_embeddings : undefined;
  return {
    doLowerCase: bool('do_lower_case'),
    stripAccents: bool('strip_accents'),
    tokenizeChineseChars: bool('tokenize_chinese_chars'),
    unkToken: str('unk_token'),
    clsToken: str('cls_token'),
    sepToken: str('sep_token'),
    padToken: str('pad_token'),
    maskToken: str('mask_token'),
    modelMaxLength: max,
  };
}

/** One variant written as a single file (`--dtype fp16 -o model_fp16.onnx`), its config and tokenizer copied beside it. */
export async function writeVariantFile(input: string, output: string, dtype: TransformersDtype, options: VariantOptions & { force?: boolean } = {}): Promise<TransformersFolderFile> {
  const model = await loadModel(input);
  const variant = makeVariant(model, dtype, { ...options, label: input });
  const problems = checkModel(variant.model);
  if (problems.length) throw new Error(`internal: the ${dtype} variant is not valid ONNX: ${problems.slice(0, 3).join('; ')}`);
  const saved = await saveModel(variant.model, output, { force: options.force, inputs: [input] });
  const bytes = saved.bytes + (saved.externalDataBytes ?? 0);
  const from = dirname(resolve(input));
  const to = dirname(resolve(output));
  if (from !== to) {
    for (const name of ['config.json', 'tokenizer.json', 'vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json']) {
      await copyFile(join(from, name), join(to, name), constants.COPYFILE_EXCL).catch(() => {});
    }
  }
  const f16 = variant.fp16;
  return {
    dtype,
    file: output,
    path: saved.path,
    bytes,
    ratio: bytes / (await stat(input)).size,
    recipe: variant.recipe,
    quantizedTensors: variant.quantize?.tensors.length ?? 0,
    ...(f16 ? { fp16: { target: f16.target, halfNodes: f16.halfNodes, casts: f16.casts, clamped: f16.clamped } } : {}),
  };
}
