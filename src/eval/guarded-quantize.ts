import { mkdtempSync, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode, UserError } from '../errors.js';
import { makeBatches } from '../data/batching.js';
import { readDataset } from '../data/dataset.js';
import { encodeRecords } from '../data/encode.js';
import { buildFeeds, planFeeds } from '../data/feeds.js';
import { loadModelTokenizer } from '../data/model-tokenizer.js';
import { checkOutputPath, loadModel, saveModel, withOutputDir, type ModelProto } from '../onnx/index.js';
import { optimizeWithOnnxruntime, type OrtOptimizeReport } from '../quantize/prepare/ort-optimize.js';
import {
  copyCompanionFiles,
  loadsInOnnxruntime,
  planCompanionFiles,
  writeCompanionFiles,
  writtenCompanions,
  nodeErrorReport,
  NothingToQuantizeError,
  nothingQuantizedMessage,
  outputSqnrMetric,
  quantizeAnyMode,
  quantizeWithinBudget,
  sampleInputs,
  type Feeds,
  type GuardMetric,
  type GuardReport,
  type NodeError,
  type QuantizeFileOptions,
  type QuantizeReport,
} from '../quantize/index.js';
import { openSession } from '../runtime/session.js';
import { evaluate } from './evaluator.js';

export interface GuardedQuantizeOptions extends QuantizeFileOptions {
  /** Accuracy budget: the most accuracy (percentage points) the int8 model may lose on `evalData`. */
  maxDrop?: number;
  /** Output-SQNR budget (dB) against the fp32 model, for models that are not text classifiers. */
  minSqnr?: number;
  /** Labelled text (csv/tsv/jsonl, as `eval` reads it): the accuracy guard's data; its first `samples` rows feed the node report. */
  evalData?: string;
  /** Measure each quantized node's output SQNR (own and cumulative) and return it. */
  nodeReport?: boolean;
  /** Inputs the node errors are measured on: rows of evalData, else seeded sample inputs. Default 64 rows / 8 sample inputs. */
  samples?: number;
  tokenizer?: string;
  maxLength?: number;
  batchSize?: number;
  onProgress?: (message: string) => void;
}

export interface GuardedQuantizeResult {
  report: QuantizeReport;
  guard?: GuardReport;
  nodeErrors?: NodeError[];
  /** Where the node-report inputs came from. */
  samples?: { source: 'eval-data' | 'sample-inputs'; count: number };
}

/** The guard missed its budget: nothing written. Exit code 3. */
export class BudgetNotMetError extends UserError {
  constructor(
    message: string,
    readonly result: GuardedQuantizeResult,
  ) {
    super(message, ExitCode.accuracyBudget);
    this.name = 'BudgetNotMetError';
  }
}

/**
 * `quantize` with an accuracy budget and/or a per-node error report. Loads the whole model
 * (the guard runs candidates in onnxruntime from memory), quantizes (within the budget when one
 * is given, reverting the most sensitive nodes to float), and writes the output atomically, as
 * quantizeFile does. A missed budget writes nothing and throws BudgetNotMetError.
 */
export async function guardedQuantizeFile(inPath: string, outPath: string, options: GuardedQuantizeOptions): Promise<GuardedQuantizeResult> {
  // The output folder and companion files as quantizeFile handles them.
  return withOutputDir(outPath, () => guardedQuantizeInto(inPath, outPath, options));
}

async function guardedQuantizeInto(inPath: string, outPath: string, options: GuardedQuantizeOptions): Promise<GuardedQuantizeResult> {
  // threads: the guard's models are in memory (no external weights to split across workers).
  const { force, allowEmpty, externalData, threads: _threads, onCalibrationProgress, ortOptimize, maxDrop, minSqnr, evalData, nodeReport, samples, tokenizer, maxLength, batchSize, onProgress, ...quantizeOptions } = options;
  if (maxDrop !== undefined && !(maxDrop >= 0)) throw new UserError(`--max-drop ${maxDrop}: expected a non-negative number of points`);
  if (maxDrop !== undefined && !evalData) throw new UserError('--max-drop needs --eval-data <file> (labelled text to measure the accuracy drop on)');
  if (minSqnr !== undefined && !Number.isFinite(minSqnr)) throw new UserError(`--min-sqnr ${minSqnr}: expected a number of dB`);
  await checkOutputPath(outPath, { force, inputs: [inPath] });
  const companionPlan = await planCompanionFiles(inPath, outPath, force ?? false);
  const externalFiles: string[] = [];
  const input = await loadModel(inPath, { onExternalFile: (f) => externalFiles.push(f) });
  // --ort-optimize: onnxruntime's basic optimizations first; the guard works on their result, read into memory.
  let model = input;
  let optimizeReport: OrtOptimizeReport | undefined;
  if (ortOptimize) {
    const optimized = await optimizeWithOnnxruntime(inPath, input);
    try {
      model = await loadModel(optimized.path);
      optimizeReport = optimized.report;
    } finally {
      await optimized.cleanup();
    }
  }
  const text = { tokenizer, maxLength, batchSize };
  const count = samples ?? (evalData ? 64 : 8);
  onProgress?.('preparing sample inputs');
  const feeds = evalData ? await textFeeds(inPath, evalData, count, text) : sampleInputs(model, count, { label: inPath });
  const result: GuardedQuantizeResult = { report: undefined as unknown as QuantizeReport, samples: { source: evalData ? 'eval-data' : 'sample-inputs', count: feeds.length } };
  const scratch = mkdtempSync(join(tmpdir(), 'distillery-guard-'));
  try {
    let quantized: ModelProto;
    const metric =
      maxDrop !== undefined
        ? await accuracyDropMetric(inPath, evalData!, maxDrop, scratch, text)
        : minSqnr !== undefined
          ? await outputSqnrMetric(model, feeds, minSqnr)
          : undefined;
    if (metric) {
      onProgress?.(`quantizing within ${metric.budget} (${metric.name})`);
      const guarded = await quantizeWithinBudget(model, quantizeOptions, {
        metric,
        feeds,
        label: inPath,
        source: { modelPath: inPath, onProgress: onCalibrationProgress },
        onStep: (s) => onProgress?.(`${s.reverted.length} nodes back in float: ${metric.name} ${s.value.toFixed(2)}`),
      });
      quantized = guarded.model;
      result.report = guarded.report;
      result.guard = guarded.guard;
      if (nodeReport) result.nodeErrors = guarded.guard.ranking.length ? guarded.guard.ranking : await nodeErrorReport(model, quantizeOptions, feeds, { modelPath: inPath });
    } else {
      const plain = await quantizeAnyMode(model, quantizeOptions, { label: inPath, modelPath: inPath, onProgress: onCalibrationProgress });
      quantized = plain.model;
      result.report = plain.report;
      if (nodeReport) {
        onProgress?.('measuring per-node errors');
        result.nodeErrors = await nodeErrorReport(model, quantizeOptions, feeds, { modelPath: inPath });
      }
    }
    if (optimizeReport) result.report.preparation.ortOptimize = optimizeReport;
    const g = result.guard;
    // Reverting every node always meets a budget relative to fp32; a budget met only that way is missed.
    if (g && (!g.met || (g.int8Nodes === 0 && g.candidateNodes > 0))) {
      const how = g.met ? `is met only with all ${g.candidateNodes} nodes back in float` : `misses it even with ${g.reverted.length} of ${g.candidateNodes} nodes back in float`;
      throw new BudgetNotMetError(`${inPath}: ${g.metric} ${formatValue(g.finalValue)}: the budget (${g.budget}) ${how}; nothing written`, result);
    }
    if (result.report.tensors.length === 0 && !allowEmpty) throw new NothingToQuantizeError(nothingQuantizedMessage(inPath, result.report), result.report);
    const saved = await saveModel(quantized, outPath, { force, inputs: [inPath], externalData: externalData ?? 'auto', verify: loadsInOnnxruntime(inPath) });
    let bytesBefore = (await stat(inPath)).size;
    for (const f of externalFiles) bytesBefore += (await stat(f)).size;
    const bytesAfter = saved.bytes + (saved.externalDataBytes ?? 0);
    await writeCompanionFiles(companionPlan);
    const companions = writtenCompanions(companionPlan);
    result.report.files = { input: inPath, output: saved.path, bytesBefore, bytesAfter, ratio: bytesAfter / bytesBefore, companions };
    return result;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function formatValue(v: number): string {
  return Number.isFinite(v) ? v.toFixed(2) : String(v);
}

interface TextOptions {
  tokenizer?: string;
  maxLength?: number;
  batchSize?: number;
}

/** The first `count` rows of a labelled text file as model inputs (batches of 8), through the model's tokenizer. */
async function textFeeds(modelPath: string, data: string, count: number, opts: TextOptions): Promise<Feeds[]> {
  const { tokenizer } = await loadModelTokenizer(modelPath, { tokenizer: opts.tokenizer, maxLength: opts.maxLength });
  const records = [];
  for await (const r of readDataset(data)) {
    // The node errors need the texts only; labels are eval's (through the model's id2label).
    records.push({ text: r.text, textPair: r.textPair, line: r.line });
    if (records.length >= count) break;
  }
  if (records.length === 0) throw new UserError(`${data}: no rows`);
  const encoded = encodeRecords(records, tokenizer, undefined, data).map((e) => ({ ids: e.ids, typeIds: e.typeIds }));
  const { session } = await openSession(modelPath, { threads: 1 });
  try {
    const plan = planFeeds(session.inputMetadata, modelPath);
    return makeBatches(encoded, 8, { padId: tokenizer.padId }).map((b) => buildFeeds(plan, b, modelPath));
  } finally {
    await session.release();
  }
}

/**
 * Accuracy drop (points) of a candidate against the fp32 model on labelled text, measured by
 * `eval` itself: each candidate is written to `scratch` with the model's config and tokenizer.
 */
async function accuracyDropMetric(fp32Path: string, data: string, maxDrop: number, scratch: string, opts: TextOptions): Promise<GuardMetric> {
  const evalOptions = { data, tokenizer: opts.tokenizer, maxLength: opts.maxLength, batchSize: opts.batchSize };
  const reference = (await evaluate({ ...evalOptions, models: [fp32Path] })).models[0]!.accuracy;
  let k = 0;
  return {
    name: 'accuracy drop (points)',
    budget: `max ${maxDrop} points`,
    within: (drop) => drop <= maxDrop + 1e-9,
    async measure(model) {
      const path = join(scratch, `candidate-${k++}.onnx`);
      await saveModel(model, path, { force: true });
      await copyCompanionFiles(fp32Path, path);
      try {
        const accuracy = (await evaluate({ ...evalOptions, models: [path] })).models[0]!.accuracy;
        return (reference - accuracy) * 100;
      } finally {
        rmSync(path, { force: true });
      }
    },
  };
}
