import { constants, copyFile, stat } from 'node:fs/promises';
import { ExitCode, UserError } from '../errors.js';
import { basename, dirname, join, resolve } from 'node:path';
import { allTensors, checkOutputPath, loadModelLazy, modelBaseDir, readExternalData, saveModel, type ModelProto } from '../onnx/index.js';
import { quantizeModel } from './driver.js';
import { quantizeModelStatic } from './static/driver.js';
import { quantizeWeightsInParallel } from './parallel.js';
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
  /** Static mode: called with the calibration rows done after each batch. */
  onCalibrationProgress?: (rows: number) => void;
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
  const { force, allowEmpty, externalData, onCalibrationProgress, threads, ...quantizeOptions } = options;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new UserError(`--threads ${threads}: expected a positive integer`);
  await checkOutputPath(outPath, { force, inputs: [inPath] });
  // Weights stay on disk until read chunk by chunk: no copy of the whole file in memory.
  const model = await loadModelLazy(inPath);
  const baseDir = modelBaseDir(inPath);
  const bytesBefore = await bytesOnDisk(inPath, model);
  // With --threads, large weights are quantized on that many threads first (dynamic mode); the driver then takes the results.
  const weightQuantizer =
    quantizeOptions.mode !== 'static' && (threads ?? 1) > 1 ? await quantizeWeightsInParallel(model, quantizeOptions, { label: inPath, baseDir }, threads) : undefined;
  const { model: quantized, report } =
    quantizeOptions.mode === 'static'
      ? await quantizeModelStatic(model, quantizeOptions, { label: inPath, baseDir, modelPath: inPath, onProgress: onCalibrationProgress })
      : quantizeModel(model, quantizeOptions, { label: inPath, baseDir, weightQuantizer });
  if (report.tensors.length === 0 && !allowEmpty) throw new NothingToQuantizeError(nothingQuantizedMessage(inPath, report), report);
  readExternalData(quantized, baseDir, inPath); // what stayed float and on disk
  const saved = await saveModel(quantized, outPath, { force, inputs: [inPath], externalData: externalData ?? 'auto' });
  const bytesAfter = saved.bytes + (saved.externalDataBytes ?? 0);
  const companions = await copyCompanionFiles(inPath, saved.path);
  report.files = { input: inPath, output: saved.path, bytesBefore, bytesAfter, ratio: bytesAfter / bytesBefore, companions };
  return report;
}

/** One line: nothing was quantized, the most frequent reasons, and the op blocking an opset conversion. */
export function nothingQuantizedMessage(label: string, report: QuantizeReport): string {
  const reasons = skipReasonCounts(report)
    .slice(0, 3)
    .map((r) => `${r.count}x ${r.reason}`)
    .join('; ');
  const refusal = report.preparation.opsetRefusal ? `; ${report.preparation.opsetRefusal.message}` : '';
  const found = report.decisions.length ? `quantized 0 of ${report.decisions.length} ${report.options.opTypes.join('/')} nodes` : `no ${report.options.opTypes.join('/')} node`;
  return `${label}: ${found}${reasons ? `: ${reasons}` : ''}${refusal}; nothing written (--allow-empty writes it anyway)`;
}

/** What eval, bench and distill read next to a model: its config and tokenizer. */
export const companionFileNames = ['config.json', 'tokenizer.json', 'vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json'];

/**
 * Copies the input model's config and tokenizer files next to the output (when it is written to
 * another folder), so the quantized model can be evaluated and benchmarked as it is. Files
 * already there are left alone. Returns the files copied.
 */
export async function copyCompanionFiles(inPath: string, outPath: string): Promise<string[]> {
  const from = dirname(resolve(inPath));
  const to = dirname(resolve(outPath));
  if (from === to) return [];
  const copied: string[] = [];
  for (const name of companionFileNames) {
    try {
      await copyFile(join(from, name), join(to, name), constants.COPYFILE_EXCL);
      copied.push(join(to, name));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EEXIST') throw e;
    }
  }
  return copied;
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
