import { readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { ExitCode, UserError } from '../errors.js';
import { basename, dirname, join, resolve } from 'node:path';
import { allTensors, checkOutputPath, loadModelLazy, modelBaseDir, readExternalData, saveModel, withOutputDir, writeFileAtomic, writeSkeletonFile, type ModelProto } from '../onnx/index.js';
import { quantizeModel } from './driver.js';
import { quantizeWeightsInParallel } from './parallel.js';
import { DeferredWeights } from './deferred.js';
import type { QuantizeOptions } from './options.js';
import { skipReasonCounts, type QuantizeReport } from './report.js';

export interface QuantizeFileOptions extends QuantizeOptions {
  /** Overwrite an existing output. */
  force?: boolean;
  /** Write the model (prepared, otherwise unchanged) even when nothing was quantized. */
  allowEmpty?: boolean;
  /** Threads quantizing weights (default 1; see parallel.ts). */
  threads?: number;
  /** Tensor data in a separate `<out>.data` file: true, false, or 'auto' (only past protobuf's 2 GiB). */
  externalData?: boolean | 'auto';
  /** onnxruntime's basic graph optimizations before quantizing (constant folding: weights behind Transpose/Cast/Mul of constants become quantizable); see prepare/ort-optimize.ts. */
  ortOptimize?: boolean;
  /** Static mode: called with the calibration rows done after each batch, in pass `pass` of `passes`. */
  onCalibrationProgress?: (rows: number, pass: number, passes: number) => void;
}

/** Thrown when a model has nothing to quantize (and `allowEmpty` is off): nothing is written. Exit code 6. */
export class NothingToQuantizeError extends UserError {
  constructor(
    message: string,
    readonly report: QuantizeReport,
  ) {
    super(message, ExitCode.nothingQuantized);
    this.name = 'NothingToQuantizeError';
  }
}

/**
 * Loads `inPath`, quantizes it and writes `outPath` atomically (temp file + rename). Refuses to
 * write over the input, or over an existing file without `force`; checks the output location
 * before doing any work. Returns the report with file sizes.
 */
export async function quantizeFile(inPath: string, outPath: string, options: QuantizeFileOptions = {}): Promise<QuantizeReport> {
  // A missing output folder is created (as distill does) and removed again if nothing lands in it.
  return withOutputDir(outPath, () => quantizeInto(inPath, outPath, options));
}

async function quantizeInto(inPath: string, outPath: string, options: QuantizeFileOptions): Promise<QuantizeReport> {
  const { force, allowEmpty, externalData, onCalibrationProgress, threads, ortOptimize, ...quantizeOptions } = options;
  // 0 as in every command: the default (here 1 thread).
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 0)) throw new UserError(`--threads ${threads}: expected a non-negative integer (0: the default)`);
  const started = performance.now();
  await checkOutputPath(outPath, { force, inputs: [inPath] });
  // Before any work: a different config/tokenizer already next to the output is refused unless forced.
  const companions = await planCompanionFiles(inPath, outPath, force ?? false);
  // Weights stay on disk until read chunk by chunk: no copy of the whole file in memory.
  const input = await loadModelLazy(inPath);
  const bytesBefore = await bytesOnDisk(inPath, input);
  // --ort-optimize: onnxruntime's basic optimizations first; the temp file they write is what gets quantized.
  const optimized = ortOptimize ? await (await import('./prepare/ort-optimize.js')).optimizeWithOnnxruntime(inPath, input) : undefined;
  try {
    const model = optimized?.model ?? input;
    const baseDir = modelBaseDir(optimized?.path ?? inPath);
    const loaded = performance.now();
    // With --threads, large weights are quantized on that many threads first (dynamic mode); the driver then takes the results.
    const parallel =
      quantizeOptions.mode !== 'static' && (threads ?? 1) > 1 ? await quantizeWeightsInParallel(model, quantizeOptions, { label: inPath, baseDir }, threads) : undefined;
    // Otherwise large weights get their int8 values as the file is written (see deferred.ts).
    const deferral = quantizeOptions.mode !== 'static' && !parallel ? new DeferredWeights({ label: inPath, baseDir }) : undefined;
    const { model: quantized, report } =
      quantizeOptions.mode === 'static'
        ? // Loaded only here: calibration brings onnxruntime, the tokenizers and the dataset readers.
          await (await import('./static/driver.js')).quantizeModelStatic(model, quantizeOptions, { label: inPath, baseDir, modelPath: inPath, onProgress: onCalibrationProgress })
        : quantizeModel(model, quantizeOptions, { label: inPath, baseDir, weightQuantizer: parallel ?? deferral?.quantizer });
    if (optimized) report.preparation.ortOptimize = optimized.report;
    if (report.tensors.length === 0 && !allowEmpty) throw new NothingToQuantizeError(nothingQuantizedMessage(inPath, report), report);
    readExternalData(quantized, baseDir, inPath); // what stayed float and on disk
    const quantizedAt = performance.now();
    const check = loadsInOnnxruntime(inPath);
    let checkMs = 0;
    const verify = async (tmpPath: string) => {
      const t = performance.now();
      await check(tmpPath);
      checkMs = performance.now() - t;
    };
    const deferred = deferral?.bytes(quantized, report);
    const saved = await saveModel(quantized, outPath, { force, inputs: [inPath], externalData: externalData ?? 'auto', verify, deferred });
    const savedAt = performance.now();
    const bytesAfter = saved.bytes + (saved.externalDataBytes ?? 0);
    await writeCompanionFiles(companions);
    report.files = { input: inPath, output: saved.path, bytesBefore, bytesAfter, ratio: bytesAfter / bytesBefore, companions: writtenCompanions(companions) };
    const ms = (x: number) => Math.round(x);
    report.timings = { loadMs: ms(loaded - started), quantizeMs: ms(quantizedAt - loaded), writeMs: ms(savedAt - quantizedAt - checkMs), checkMs: ms(checkMs), totalMs: ms(performance.now() - started) };
    return report;
  } finally {
    await optimized?.cleanup();
  }
}

/**
 * The written model must load in onnxruntime before it is renamed into place: our checker knows
 * the graph's structure, not every operator's schema (a corrupted op type or attribute).
 */
export function loadsInOnnxruntime(inPath: string): (tmpPath: string) => Promise<void> {
  return async (tmpPath) => {
    // Loaded here, not at start-up: quantize itself never needs onnxruntime otherwise.
    const { openSession } = await import('../runtime/session.js');
    // onnxruntime loads the written file's own bytes, its large weights as external data pointing
    // back into that file (mapped, not copied: the copy was most of the check's time). Graph,
    // schemas, attributes, types and every tensor's length against its shape are checked alike.
    let skeleton: ReturnType<typeof writeSkeletonFile>;
    try {
      skeleton = writeSkeletonFile(tmpPath);
    } catch (e) {
      throw new UserError(`${inPath}: the quantized model written is not readable protobuf (${(e as Error).message}); nothing written`);
    }
    try {
      const { session } = await openSession(skeleton?.path ?? tmpPath, { threads: 1, graphOptimizationLevel: 'disabled', logSeverityLevel: 4, loadCheckOnly: true });
      await session.release();
    } catch (e) {
      const reason = (e as Error).message.replace(/^.*onnxruntime cannot load this model: /, '');
      throw new UserError(`${inPath}: onnxruntime refuses the quantized model (${reason}); nothing written. Does the input itself load (distillery eval or bench on it)?`);
    } finally {
      skeleton?.remove();
    }
  };
}

/** One line: nothing was quantized, the most frequent reasons, and the op blocking an opset conversion. */
export function nothingQuantizedMessage(label: string, report: QuantizeReport): string {
  const reasons = skipReasonCounts(report)
    .slice(0, 3)
    .map((r) => `${r.count}x ${r.reason}`)
    .join('; ');
  const refusal = report.preparation.opsetRefusal ? `; ${report.preparation.opsetRefusal.message}` : '';
  // An int8 model given again is the common case: say so first.
  const int8 = skipReasonCounts(report).filter((r) => /weight is u?int(8|4)\b/.test(r.reason)).reduce((n, r) => n + r.count, 0);
  const already = int8 ? 'already quantized (its weights are stored as integers); ' : '';
  const found = report.decisions.length ? `quantized 0 of ${report.decisions.length} ${report.options.opTypes.join('/')} nodes` : `no ${report.options.opTypes.join('/')} node`;
  return `${label}: ${already}${found}${reasons ? `: ${reasons}` : ''}${refusal}; nothing written (--allow-empty writes it anyway)`;
}

/** What eval, bench and distill read next to a model: its config and tokenizer. */
export const companionFileNames = ['config.json', 'tokenizer.json', 'vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json'];

export interface CompanionFile {
  to: string;
  bytes: Buffer;
  /** copy: not there yet; same: identical file already there; replace: a different file, --force given. */
  action: 'copy' | 'same' | 'replace';
}

/**
 * The input model's config and tokenizer files to write next to the output (when it goes to
 * another folder), so the quantized model can be evaluated and benchmarked as it is. A
 * different file of the same name already there belongs to another model: refused without
 * `force` (eval would silently read the wrong labels or vocabulary), replaced with it.
 */
export async function planCompanionFiles(inPath: string, outPath: string, force: boolean): Promise<CompanionFile[]> {
  const from = dirname(resolve(inPath));
  const to = dirname(resolve(outPath));
  if (from === to) return [];
  const plan: CompanionFile[] = [];
  for (const name of companionFileNames) {
    const source = join(from, name);
    if (!existsSync(source)) continue;
    const bytes = await readFile(source);
    const target = join(to, name);
    const existing = await readFile(target).catch(() => undefined);
    if (existing === undefined) plan.push({ to: target, bytes, action: 'copy' });
    else if (existing.equals(bytes)) plan.push({ to: target, bytes, action: 'same' });
    else if (force) plan.push({ to: target, bytes, action: 'replace' });
    else {
      throw new UserError(
        `${target}: already exists and differs from ${source} (another model's file?); ` +
          "quantize writes the input model's config and tokenizer next to its output: use --force to replace it, or another output folder",
      );
    }
  }
  return plan;
}

export async function writeCompanionFiles(plan: CompanionFile[]): Promise<void> {
  for (const c of plan) if (c.action !== 'same') await writeFileAtomic(c.to, c.bytes);
}

/** The companion files a plan wrote (identical ones already there are not listed). */
export function writtenCompanions(plan: CompanionFile[]): string[] {
  return plan.filter((c) => c.action !== 'same').map((c) => c.to);
}

/** Plans and writes in one go (a scratch folder of our own); returns the files written. */
export async function copyCompanionFiles(inPath: string, outPath: string, force = false): Promise<string[]> {
  const plan = await planCompanionFiles(inPath, outPath, force);
  await writeCompanionFiles(plan);
  return writtenCompanions(plan);
}

/** The model file plus the external data files its tensors name (other than itself). */
export async function bytesOnDisk(path: string, model: ModelProto): Promise<number> {
  const self = basename(resolve(path));
  const files = new Set<string>();
  for (const t of allTensors(model)) {
    const location = t.externalData?.find((e) => e.key === 'location')?.value;
    if (t.dataLocation === 1 && location && location !== self) files.add(location);
  }
  let total = (await stat(path)).size;
  for (const f of files) total += await stat(join(dirname(resolve(path)), f)).then((s) => s.size, () => 0);
  return total;
}
