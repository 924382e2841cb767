import type { ResolvedDevice } from '../runtime/device.js';
import type { DatasetOptions } from '../data/dataset.js';
import type { Device } from '../runtime/device.js';
import type { GraphOptimizationLevel } from '../runtime/session.js';
import type { MachineInfo } from './machine.js';
import type { ModelFacts } from './model-info.js';
import type { LatencyStats } from './percentiles.js';
import type { Placement } from './placement.js';

export interface BenchOptions {
  /** Batch sizes to sweep (default [1]). */
  batchSizes?: number[];
  /** Sequence lengths to sweep; needed when a model's sequence dim is dynamic (with --data: default the batch's longest). */
  seqLens?: number[];
  /** Untimed runs per model before each point's timing (default 10). */
  warmup?: number;
  /** Timed runs per model and point (default 100). */
  iterations?: number;
  device?: Device;
  /** Intra-op threads; 0 or undefined lets onnxruntime choose. */
  threads?: number;
  graphOptimizationLevel?: GraphOptimizationLevel;
  /** The model others are compared with: index into the paths or one of the paths (default the first). */
  baseline?: number | string;
  /** Real sentences (csv/tsv/jsonl) tokenized with the tokenizer next to each model, instead of synthetic ids. */
  data?: string;
  dataOptions?: Pick<DatasetOptions, 'textCol' | 'textPairCol' | 'format' | 'header'>;
  /** Values for named dynamic dims other than batch and sequence. */
  dims?: Record<string, number>;
  /**
   * Run each model's session in its own worker process (default: yes when the compiled worker is
   * available, i.e. outside TypeScript test runs). Peak RSS is then that model's alone.
   */
  isolate?: boolean;
  /** Profile one run per model to report node placement (default true). */
  placement?: boolean;
  /** Seed of the synthetic token ids (default 0). */
  seed?: number;
  /** Names for the models in tables (default from the file names). */
  labels?: string[];
  /** Timed runs per model before switching to the next model (default iterations / 10, between 1 and 1000). */
  blockSize?: number;
  /** Aborting stops after the current iteration; the result then holds what was measured. */
  signal?: AbortSignal;
}

export interface MemoryUse {
  /**
   * 'process': the model ran alone in a worker process; peakRssBytes is that process's peak
   * (Node + onnxruntime + this session), sessionRssBytes the peak minus the worker's RSS before
   * the session existed. 'in-process': all models shared this process; peakRssBytes is the
   * process peak (the same for every model), sessionRssBytes the RSS growth observed while this
   * model's session was created and run (approximate: freed memory gets reused across models).
   */
  method: 'process' | 'in-process';
  peakRssBytes: number;
  sessionRssBytes: number;
}

/** What bench reports of a model: its facts from the file, and what the run measured. */
export interface BenchModel extends Omit<ModelFacts, 'modelType' | 'maxSequenceLength'> {
  /** Milliseconds to create the timed session. */
  createMs?: number;
  device?: ResolvedDevice;
  placement?: Placement;
  memory?: MemoryUse;
}

export interface BenchRun {
  /** Index into BenchResult.models. */
  model: number;
  label: string;
  batchSize: number;
  seqLen?: number;
  /** Tokens in one batch (attention-mask 1s). */
  tokensPerBatch: number;
  /** Timed iterations requested; latency.count says how many ran (fewer when interrupted). */
  iterations: number;
  latencyMs: LatencyStats;
  throughput: { examplesPerSec: number; tokensPerSec: number };
  /** Against the baseline model at the same batch and sequence length (absent for the baseline). */
  vsBaseline?: {
    /** p50 / baseline p50: below 1 is faster. */
    p50Ratio: number;
    /** The difference is smaller than either result's IQR: not a real difference. */
    withinNoise: boolean;
  };
  /** Why the result is unsteady, when it is. */
  noisy?: string;
  /** Per-iteration milliseconds, in the order they ran. */
  samplesMs: number[];
}

export interface BenchResult {
  schema: 'onnx-distillery/bench@1';
  startedAt: string;
  finishedAt: string;
  /** False when interrupted: runs hold what was measured so far. */
  complete: boolean;
  machine: MachineInfo;
  settings: {
    device: ResolvedDevice;
    /** Requested intra-op threads; 0 means onnxruntime's default. */
    threads: number;
    graphOptimizationLevel: GraphOptimizationLevel;
    warmup: number;
    iterations: number;
    blockSize: number;
    batchSizes: number[];
    seqLens: number[];
    inputs: 'synthetic' | 'data';
    data?: string;
    seed: number;
    isolation: 'process' | 'in-process';
  };
  baseline: number;
  models: BenchModel[];
  runs: BenchRun[];
  warnings: string[];
}

export interface BenchProgress {
  phase: 'load' | 'placement' | 'open' | 'warmup' | 'timing';
  modelIndex: number;
  label: string;
  batchSize?: number;
  seqLen?: number;
  /** Point of the sweep (0-based) and how many there are. */
  point?: number;
  points?: number;
  /** Timed iterations done / requested, for this model at this point. */
  done?: number;
  total?: number;
  /** With phase 'placement': where the model's nodes run (reported before any timing). */
  placement?: Placement;
  /** With placement: what it warns about (CUDA falling back to CPU), also in BenchResult.warnings. */
  warnings?: string[];
}
