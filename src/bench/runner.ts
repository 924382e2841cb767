import type { ResolvedDevice } from '../runtime/device.js';
import type { SessionSettings } from '../runtime/session.js';
import type { FeedData, InputSpec } from './inputs.js';
import type { Placement } from './placement.js';

/** What opening a model reports. */
export interface OpenedRunner {
  /** Milliseconds onnxruntime took to create the session (file read, graph optimization, kernels). */
  createMs: number;
  device: ResolvedDevice;
  inputs: InputSpec[];
  /** Resident set size of the runner's process just before and just after the session was created. */
  rssBeforeOpen: number;
  rssAfterOpen: number;
}

/** Timed iterations of one block, in milliseconds, and the process RSS right after the block. */
export interface BlockResult {
  samplesMs: Float64Array;
  rss: number;
}

export interface ProcessMemory {
  /** Highest RSS the runner's process reached (process.resourceUsage().maxRSS). */
  peakRssBytes: number;
  /** RSS of the process before the session existed (runtime and Node loaded). */
  baselineRssBytes: number;
}

export interface RunnerOptions {
  model: string;
  settings: SessionSettings;
  /** Open a session that records onnxruntime's profile (for placement), not one to time. */
  profile?: boolean;
}

/**
 * One model's session, in this process or in a worker process. The harness only talks to this,
 * so both behave alike: open, set feeds (built once), run blocks of iterations, read memory, close.
 */
export interface ModelRunner {
  open(): Promise<OpenedRunner>;
  setFeeds(feeds: FeedData[]): Promise<void>;
  /** Runs `iterations` inferences and times each; stops early (returning fewer) after stop(). */
  run(iterations: number): Promise<BlockResult>;
  /** Runs once with profiling and reports where nodes ran (runners opened with `profile`). */
  placement(): Promise<Placement>;
  memory(): Promise<ProcessMemory>;
  /** Ends the current block after its current iteration. */
  stop(): void;
  close(): Promise<void>;
}
