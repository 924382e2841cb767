import { resolveDevice } from '../runtime/device.js';
import type { SessionSettings } from '../runtime/session.js';
import { UserError } from '../errors.js';
import { ChildRunner, workerScript } from './child-runner.js';
import { FALLBACK_VOCAB, resolveInputShapes, syntheticFeeds, textFeeds, tokensIn, type FeedData, type InputSpec } from './inputs.js';
import { machineInfo } from './machine.js';
import { modelFacts, modelLabels, type ModelFacts } from './model-info.js';
import { checkOptions, type CheckedOptions } from './options.js';
import { placementWarnings } from './placement.js';
import { compareWithBaseline, int8SlowerWarnings, noisyWarning } from './compare.js';
import { noiseReason, summarize } from './percentiles.js';
import type { ModelRunner } from './runner.js';
import { SessionRunner } from './session-runner.js';
import { readTexts, TextEncoder } from './text-data.js';
import type { BenchModel, BenchOptions, BenchProgress, BenchResult, BenchRun } from './types.js';

/** Inputs of one model at one point of the sweep, built before any timing. */
interface PointPlan {
  feeds: FeedData[];
  batchSize: number;
  seqLen?: number;
  tokens: number;
}

interface Point {
  batchSize: number;
  seqLen?: number;
}

/**
 * Benchmarks models side by side: for every batch size x sequence length, each model warms up,
 * then the models take turns in blocks of timed runs (A B A B ...) so that drift on a busy
 * machine hits all of them alike. Inputs are built once per point, before timing; the timed
 * loop only calls session.run. Reports latency percentiles, throughput, session create time,
 * memory and node placement, with ratios against the baseline model.
 */
export async function benchModels(paths: string[], options: BenchOptions = {}, onProgress?: (p: BenchProgress) => void): Promise<BenchResult> {
  const startedAt = new Date().toISOString();
  const o = checkOptions(paths, options);
  const device = resolveDevice(o.device);
  const machine = machineInfo({ cuda: device !== 'cpu' });
  const labels = options.labels ?? modelLabels(paths);
  if (labels.length !== paths.length) throw new UserError(`bench: ${labels.length} labels for ${paths.length} models`);
  const warnings: string[] = [];
  if (o.threads > machine.availableParallelism) {
    warnings.push(`--threads ${o.threads} is more than the ${machine.availableParallelism} CPUs available: threads will compete and latency will suffer`);
  }

  const facts: ModelFacts[] = [];
  for (let i = 0; i < paths.length; i++) {
    onProgress?.({ phase: 'load', modelIndex: i, label: labels[i]! });
    facts.push(await modelFacts(paths[i]!, labels[i]!));
  }
  for (const f of facts) {
    for (const s of o.seqLens) {
      if (s !== undefined && f.maxSequenceLength !== undefined && s > f.maxSequenceLength) {
        throw new UserError(`${f.path}: --seq-len ${s} is longer than the model's ${f.maxSequenceLength} positions`);
      }
    }
    if (f.vocabSize === undefined && !options.data) {
      warnings.push(`${f.path}: vocabulary size unknown (no embedding table found, no config.json): token ids drawn from 1..${FALLBACK_VOCAB - 1}`);
    }
  }

  const script = options.isolate === false ? undefined : workerScript();
  if (options.isolate === true && !script) throw new Error('isolated benchmarks need the compiled worker (run npm run build)');
  const isolated = script !== undefined;
  // onnxruntime's own log would print run failures a second time (we report them in one line)
  // and CUDA fallbacks without context (the placement report says which ops, and warns).
  const settings: SessionSettings = { device, threads: o.threads, graphOptimizationLevel: o.graphOptimizationLevel, logSeverityLevel: 4 };
  const makeRunner = (model: string, profile: boolean): ModelRunner =>
    script ? new ChildRunner({ model, settings, profile }, script) : new SessionRunner({ model, settings, profile });

  const points: Point[] = o.batchSizes.flatMap((batchSize) => o.seqLens.map((seqLen) => (seqLen === undefined ? { batchSize } : { batchSize, seqLen })));
  const texts = options.data ? await readTexts(options.data, Math.max(...o.batchSizes), options.dataOptions) : undefined;
  const encoder = texts ? new TextEncoder(texts) : undefined;
  const planPoints = async (i: number, inputs: InputSpec[]): Promise<PointPlan[]> => {
    const plans: PointPlan[] = [];
    for (const p of points) {
      const req = { batchSize: p.batchSize, batchExplicit: o.batchExplicit, seqLen: p.seqLen, dims: o.dims, model: paths[i]! };
      if (encoder) {
        const { encodings, padId } = await encoder.encode(paths[i]!, p.seqLen ?? facts[i]!.maxSequenceLength);
        const { feeds, resolved } = textFeeds(inputs, encodings, { ...req, padId, vocabSize: facts[i]!.vocabSize, seed: o.seed });
        plans.push({ feeds, batchSize: resolved.batchSize, seqLen: resolved.seqLen, tokens: tokensIn(feeds, resolved.batchSize, resolved.seqLen) });
      } else {
        const resolved = resolveInputShapes(inputs, req);
        const feeds = syntheticFeeds(inputs, resolved.shapes, { vocabSize: facts[i]!.vocabSize, modelType: facts[i]!.modelType, seed: o.seed });
        plans.push({ feeds, batchSize: resolved.batchSize, seqLen: resolved.seqLen, tokens: tokensIn(feeds, resolved.batchSize, resolved.seqLen) });
      }
    }
    return plans;
  };

  const models: BenchModel[] = facts.map((f) => ({
    path: f.path,
    label: f.label,
    fileBytes: f.fileBytes,
    weightBytes: f.weightBytes,
    weightBytesByDtype: f.weightBytesByDtype,
    parameters: f.parameters,
    weightKind: f.weightKind,
    ...(f.vocabSize !== undefined ? { vocabSize: f.vocabSize } : {}),
  }));
  const plans: PointPlan[][] = [];
  const runners: ModelRunner[] = [];
  const samples: SampleBuffer[][] = points.map(() => paths.map(() => new SampleBuffer(o.iterations)));
  const counts: number[][] = points.map(() => paths.map(() => 0));
  const sessionRss = paths.map(() => 0);
  let active: ModelRunner | undefined;
  let interrupted = false;
  const onAbort = () => {
    interrupted = true;
    active?.stop();
  };
  if (options.signal?.aborted) interrupted = true;
  options.signal?.addEventListener('abort', onAbort);

  /**
   * Runs a runner operation; in-process, RSS growth during it is charged to model i. onnxruntime
   * failing on our inputs is the model's problem (or the flags'), reported as one line.
   */
  const charged = async <T>(i: number, runner: ModelRunner, op: () => Promise<T>, where = ''): Promise<T> => {
    const before = isolated ? 0 : process.memoryUsage.rss();
    active = runner;
    try {
      return await op();
    } catch (e) {
      if (e instanceof UserError || !(e instanceof Error)) throw e;
      throw new UserError(`${paths[i]}: onnxruntime failed${where}: ${firstLine(e.message)}`);
    } finally {
      active = undefined;
      if (!isolated) sessionRss[i]! += Math.max(0, process.memoryUsage.rss() - before);
    }
  };

  try {
    // Placement first, each in a session of its own, so the report comes before any timing and
    // profiling never touches the timed sessions.
    for (let i = 0; i < paths.length && !interrupted; i++) {
      if (!o.placement) break;
      onProgress?.({ phase: 'placement', modelIndex: i, label: labels[i]! });
      const profiled = makeRunner(paths[i]!, true);
      try {
        const opened = await profiled.open();
        plans[i] = await planPoints(i, opened.inputs);
        const placement = await charged(
          i,
          profiled,
          async () => {
            await profiled.setFeeds(plans[i]![0]!.feeds);
            return profiled.placement();
          },
          pointLabel(plans[i]![0]!),
        );
        models[i]!.placement = placement;
        const said = placementWarnings(placement, opened.device, labels[i]!);
        warnings.push(...said);
        onProgress?.({ phase: 'placement', modelIndex: i, label: labels[i]!, placement, warnings: said });
      } finally {
        await profiled.close();
      }
    }
    // The profiled sessions are gone; memory counts from the timed sessions on.
    sessionRss.fill(0);
    for (let i = 0; i < paths.length && !interrupted; i++) {
      onProgress?.({ phase: 'open', modelIndex: i, label: labels[i]! });
      const runner = makeRunner(paths[i]!, false);
      runners.push(runner);
      const opened = await charged(i, runner, () => runner.open());
      models[i]!.createMs = opened.createMs;
      models[i]!.device = opened.device;
      plans[i] ??= await planPoints(i, opened.inputs);
    }

    const interleaved = paths.length > 1 || isolated;
    for (let p = 0; p < points.length && !interrupted; p++) {
      const progress = (i: number, phase: 'warmup' | 'timing'): BenchProgress => ({
        phase,
        modelIndex: i,
        label: labels[i]!,
        batchSize: plans[i]![p]!.batchSize,
        ...(plans[i]![p]!.seqLen !== undefined ? { seqLen: plans[i]![p]!.seqLen } : {}),
        point: p,
        points: points.length,
        done: counts[p]![i]!,
        total: o.iterations,
      });
      for (let i = 0; i < runners.length && !interrupted; i++) {
        const runner = runners[i]!;
        onProgress?.(progress(i, 'warmup'));
        await charged(
          i,
          runner,
          async () => {
            await runner.setFeeds(plans[i]![p]!.feeds);
            if (o.warmup > 0) await runner.run(o.warmup);
          },
          pointLabel(plans[i]![p]!),
        );
      }
      // Blocks in turn until every model has its iterations. After another model (or a pause
      // for IPC) caches and thread pools are cold, so each block starts with one untimed run.
      while (!interrupted && counts[p]!.some((c) => c < o.iterations)) {
        for (let i = 0; i < runners.length && !interrupted; i++) {
          const n = Math.min(o.blockSize, o.iterations - counts[p]![i]!);
          if (n <= 0) continue;
          const runner = runners[i]!;
          const block = await charged(
            i,
            runner,
            async () => {
              if (interleaved) await runner.run(1);
              return interrupted ? undefined : runner.run(n);
            },
            pointLabel(plans[i]![p]!),
          );
          if (!block) break;
          samples[p]![i]!.append(block.samplesMs);
          counts[p]![i]! += block.samplesMs.length;
          onProgress?.(progress(i, 'timing'));
        }
      }
    }

    for (let i = 0; i < runners.length; i++) {
      const mem = await runners[i]!.memory();
      models[i]!.memory = isolated
        ? { method: 'process', peakRssBytes: mem.peakRssBytes, sessionRssBytes: Math.max(0, mem.peakRssBytes - mem.baselineRssBytes) }
        : { method: 'in-process', peakRssBytes: mem.peakRssBytes, sessionRssBytes: sessionRss[i]! };
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    for (const r of runners) await r.close();
  }

  const runs = collectRuns(o, points, plans, samples, counts, labels);
  warnings.push(...int8SlowerWarnings(runs, models, o.baseline, machine.cpuModel));
  const noisy = noisyWarning(runs);
  if (noisy) warnings.push(noisy);
  return {
    schema: 'onnx-distillery/bench@1',
    startedAt,
    finishedAt: new Date().toISOString(),
    complete: !interrupted,
    machine,
    settings: {
      device,
      threads: o.threads,
      graphOptimizationLevel: o.graphOptimizationLevel,
      warmup: o.warmup,
      iterations: o.iterations,
      blockSize: o.blockSize,
      batchSizes: o.batchSizes,
      seqLens: o.seqLens.filter((s): s is number => s !== undefined),
      inputs: options.data ? 'data' : 'synthetic',
      ...(options.data ? { data: options.data } : {}),
      seed: o.seed,
      isolation: isolated ? 'process' : 'in-process',
    },
    baseline: o.baseline,
    models,
    runs,
    warnings,
  };
}

function pointLabel(p: PointPlan): string {
  return ` at batch ${p.batchSize}${p.seqLen !== undefined ? ` seq ${p.seqLen}` : ''}`;
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim())?.trim() ?? s;
}

/** Timed samples of one model at one point; grows as blocks arrive, so a huge --iterations costs nothing up front. */
class SampleBuffer {
  private data: Float64Array;
  length = 0;

  constructor(capacity: number) {
    this.data = new Float64Array(Math.min(capacity, 4096));
  }

  append(values: Float64Array): void {
    if (this.length + values.length > this.data.length) {
      const grown = new Float64Array(Math.max(this.data.length * 2, this.length + values.length));
      grown.set(this.data.subarray(0, this.length));
      this.data = grown;
    }
    this.data.set(values, this.length);
    this.length += values.length;
  }

  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

function collectRuns(o: CheckedOptions, points: Point[], plans: PointPlan[][], samples: SampleBuffer[][], counts: number[][], labels: string[]): BenchRun[] {
  const runs: BenchRun[] = [];
  for (let p = 0; p < points.length; p++) {
    const atPoint: BenchRun[] = [];
    for (let i = 0; i < labels.length; i++) {
      const n = counts[p]?.[i] ?? 0;
      const plan = plans[i]?.[p];
      if (n === 0 || !plan) continue;
      const taken = samples[p]![i]!.values();
      const latencyMs = summarize(taken);
      const noisy = noiseReason(latencyMs);
      atPoint.push({
        model: i,
        label: labels[i]!,
        batchSize: plan.batchSize,
        ...(plan.seqLen !== undefined ? { seqLen: plan.seqLen } : {}),
        tokensPerBatch: plan.tokens,
        iterations: o.iterations,
        latencyMs,
        throughput: { examplesPerSec: (plan.batchSize * 1000) / latencyMs.mean, tokensPerSec: (plan.tokens * 1000) / latencyMs.mean },
        ...(noisy ? { noisy } : {}),
        samplesMs: Array.from(taken, (v) => Math.round(v * 1e4) / 1e4),
      });
    }
    compareWithBaseline(atPoint, o.baseline);
    runs.push(...atPoint);
  }
  return runs;
}
