import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { allTensors, encodeModel, opsetVersion, saveModel, tensorByteLength, type ModelProto } from '../../onnx/index.js';
import { openSession } from '../../runtime/session.js';
import { tensorRange } from '../calibrate/ranges.js';
import { calibrationBatches } from '../calibrate/data.js';
import { collectStats } from '../calibrate/run.js';
import type { QuantizeResult, QuantizeSource } from '../driver.js';
import { resolveQuantizeOptions, type QuantizeOptions } from '../options.js';
import { defaultStaticOpTypes, staticOpTypes } from '../ops/static-registry.js';
import { computeQParams, quantRange, type QParams } from '../qparams.js';
import type { ActivationRangeReport, NodeDecision } from '../report.js';
import { ConstantLookup } from './constants.js';
import { emitStatic } from './emit.js';
import { foldBatchNorms } from './fold-batchnorm.js';
import { resolveStaticFields, type ResolvedStaticOptions } from './options.js';
import { planStatic } from './plan.js';
import { prepareForQuantization } from '../prepare/prepare.js';
import type { StaticPlanContext } from './rule.js';

export interface StaticSource extends QuantizeSource {
  /** The model file: its tokenizer (text calibration) and the external data it references. */
  modelPath?: string;
  onProgress?: (rows: number) => void;
}

/**
 * Static quantization: weights int8 now, activations int8/uint8 with ranges from calibration
 * data. Folds BatchNorm into Conv, plans (ops/ static rules), streams the calibration batches
 * through the model with the activations to calibrate as extra outputs (only per-tensor
 * statistics are kept), then writes the QDQ or QOperator graph. The input model is not changed.
 */
export async function quantizeModelStatic(model: ModelProto, options: QuantizeOptions, source: StaticSource = {}): Promise<QuantizeResult> {
  const label = source.label ?? 'model';
  const base = resolveQuantizeOptions({ ...options, opTypes: options.opTypes ?? [...defaultStaticOpTypes] }, staticOpTypes);
  const opts: ResolvedStaticOptions = { ...base, calibration: resolveStaticFields(options.calibration ?? {}) };
  if (!model.graph) throw new UserError(`${label}: model has no graph`);
  // Constant-node weights to initializers, old opsets converted up (see prepare/prepare.ts).
  const { model: input, report: preparation } = prepareForQuantization(model, base);
  const opset = opsetVersion(input, '') ?? 1;
  if (opset < 10) {
    const why = preparation.opsetRefusal ? ` (${preparation.opsetRefusal.message})` : '';
    throw new UserError(`${label}: model imports opset ${opset}; static quantization needs QuantizeLinear/DequantizeLinear (opset >= 10)${why}`);
  }

  const folded = foldBatchNorms(input, new ConstantLookup(input.graph!), source.baseDir, label);
  const prepared = folded.model;
  const graph = prepared.graph!;
  const constants = new ConstantLookup(graph);
  const ctx: StaticPlanContext = {
    options: opts,
    opset,
    constantWeight: (n) => constants.weight(n, opts.minElements),
    constantInfo: (n) => constants.info(n),
    constantValues: (n) => constants.values(n),
  };

  let plan = planStatic(graph, constants, opts, opset);
  const calibrated = () => [...plan.activations.values()].filter((e) => !e.sharedWith || !plan.activations.has(e.sharedWith)).map((e) => e.name);
  const tensors = calibrated();
  const augmented = augment(prepared, tensors);
  const { session, cleanup } = await openAugmented(augmented, source.baseDir, label);
  let stats;
  try {
    // Values that turn out not to be float32 (shape arithmetic through an Add, say) are not
    // activations: skip the nodes reading them and plan again.
    const types = new Map(session.outputMetadata.map((m) => [m.name, m.isTensor ? m.type : 'non-tensor']));
    for (const m of session.inputMetadata) types.set(m.name, m.isTensor ? m.type : 'non-tensor');
    const notFloat = tensors.filter((t) => types.get(t) !== undefined && types.get(t) !== 'float32');
    if (notFloat.length) {
      const excluded = new Map<number, string>();
      for (const [i] of plan.planned) {
        const bad = (graph.node![i]!.input ?? []).find((x) => notFloat.includes(x));
        if (bad) excluded.set(i, `input ${bad} is ${types.get(bad)}, not a float32 activation`);
      }
      plan = planStatic(graph, constants, opts, opset, excluded);
    }
    const batches = calibrationBatches(opts.calibration.data, session.inputMetadata, {
      size: opts.calibration.size,
      batchSize: opts.calibration.batchSize,
      modelPath: source.modelPath,
    });
    stats = await collectStats(session, calibrated(), batches, { method: opts.calibration.method, movingAverage: opts.calibration.movingAverage, onBatch: source.onProgress }, label);
  } finally {
    await session.release();
    await cleanup();
  }

  const range = quantRange({ type: opts.calibration.activationType, symmetric: opts.calibration.activationSymmetric, reduceRange: false });
  const params = new Map<string, QParams>();
  const ranges: ActivationRangeReport[] = [];
  for (const [name, s] of stats.stats) {
    const r = tensorRange(s, { method: opts.calibration.method, percentile: opts.calibration.percentile });
    const p = computeQParams(Math.fround(r.rmin), Math.fround(r.rmax), range, opts.calibration.activationSymmetric);
    params.set(name, p);
    ranges.push({ name, min: s.min, max: s.max, rmin: r.rmin, rmax: r.rmax, scale: p.scale, zeroPoint: p.zeroPoint });
  }

  const emitted = emitStatic(graph, plan, params, constants, opts, ctx, { baseDir: source.baseDir, label });
  for (const [i, p] of plan.planned) {
    const n = graph.node![i]!;
    const tensorsRead = p.plan.weights.map((w) => n.input![w.input]!);
    plan.decisions.set(i, { node: plan.labels[i]!, opType: n.opType!, status: 'quantized', tensors: tensorsRead });
  }
  const decisions: NodeDecision[] = [...plan.decisions.entries()].sort((a, b) => a[0] - b[0]).map(([, d]) => d);
  const out: ModelProto = { ...prepared, graph: emitted.graph, opsetImport: [...(prepared.opsetImport ?? [])] };
  if (emitted.graph.node!.some((n) => n.domain === 'com.microsoft') && !out.opsetImport!.some((o) => o.domain === 'com.microsoft')) {
    out.opsetImport!.push({ domain: 'com.microsoft', version: 1 });
  }
  return {
    model: out,
    report: {
      options: opts,
      decisions,
      tensors: emitted.weights,
      initializerBytes: { before: tensorBytes(model), after: tensorBytes(out) },
      preparation,
      calibration: {
        method: opts.calibration.method,
        rows: stats.rows,
        batches: stats.batches,
        activationType: opts.calibration.activationType,
        foldedBatchNorms: folded.folded,
        qoperatorNodes: emitted.qoperatorNodes,
        activations: ranges,
      },
    },
  };
}

function tensorBytes(model: ModelProto): number {
  let total = 0;
  for (const t of allTensors(model)) total += tensorByteLength(t);
  return total;
}

/**
 * The model with `tensors` as extra graph outputs (graph inputs are read from the feeds instead).
 * The outputs carry no type: onnxruntime infers it, so a value that turns out not to be float
 * (shape arithmetic through an Add) loads and is then dropped, instead of failing the load.
 */
function augment(model: ModelProto, tensors: string[]): ModelProto {
  const graph = model.graph!;
  const have = new Set([...(graph.output ?? []), ...(graph.input ?? [])].map((v) => v.name ?? ''));
  const extra = tensors.filter((t) => !have.has(t)).map((t) => ({ name: t }));
  return { ...model, graph: { ...graph, output: [...(graph.output ?? []), ...extra] } };
}

/**
 * An onnxruntime session on the augmented model. Weights the lazy loader left on disk stay
 * there: the model is written to a temp folder next to copies of the files holding them
 * (onnxruntime refuses external data outside the model's folder, links included; the copy is
 * done by the kernel), so the weights are never in this process's memory.
 */
async function openAugmented(model: ModelProto, baseDir: string | undefined, label: string) {
  const files = new Set<string>();
  for (const t of allTensors(model)) {
    const location = t.externalData?.find((e) => e.key === 'location')?.value;
    if (t.dataLocation === 1 && location) files.add(location);
  }
  if (files.size === 0) {
    const { session } = await openSession(encodeModel(model), { graphOptimizationLevel: 'basic', logSeverityLevel: 3 });
    return { session, cleanup: async () => {} };
  }
  if (!baseDir) throw new UserError(`${label}: the model keeps weights in external files and no model directory was given`);
  const dir = await mkdtemp(join(tmpdir(), 'distillery-calibrate-'));
  try {
    for (const f of files) await copyFile(join(baseDir, f), join(dir, f));
    const path = join(dir, 'augmented.onnx');
    await saveModel(model, path, { externalData: false });
    const { session } = await openSession(path, { graphOptimizationLevel: 'basic', logSeverityLevel: 3 });
    return { session, cleanup: () => rm(dir, { recursive: true, force: true }) };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
