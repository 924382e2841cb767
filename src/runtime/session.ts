import { stat } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { UserError } from '../errors.js';
import { resolveDevice, type Device } from './device.js';

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface SessionSettings {
  device?: Device;
  /** Intra-op threads; 0 or undefined lets onnxruntime choose (one per physical core). */
  threads?: number;
  graphOptimizationLevel?: GraphOptimizationLevel;
  /** Collect onnxruntime's profile (used by `bench` to report node placement). */
  profileFilePrefix?: string;
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

export interface OpenedSession {
  session: ort.InferenceSession;
  device: 'cpu' | 'cuda';
  /** Milliseconds spent creating the session. */
  createMs: number;
}

/** Builds onnxruntime session options from our settings. The one place that does. */
export function sessionOptions(settings: SessionSettings = {}): ort.InferenceSession.SessionOptions {
  const device = resolveDevice(settings.device ?? 'cpu');
  const opts: ort.InferenceSession.SessionOptions = {
    executionProviders: device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    graphOptimizationLevel: settings.graphOptimizationLevel ?? 'all',
    executionMode: 'sequential',
  };
  if (settings.threads && settings.threads > 0) {
    opts.intraOpNumThreads = settings.threads;
    opts.interOpNumThreads = 1;
  }
  if (settings.profileFilePrefix) {
    opts.enableProfiling = true;
    opts.profileFilePrefix = settings.profileFilePrefix;
  }
  if (settings.logSeverityLevel !== undefined) opts.logSeverityLevel = settings.logSeverityLevel;
  return opts;
}

/**
 * Opens an onnxruntime session on a model file or on model bytes. Load failures become a
 * UserError naming the file and onnxruntime's own reason.
 */
export async function openSession(model: string | Uint8Array, settings: SessionSettings = {}): Promise<OpenedSession> {
  const device = resolveDevice(settings.device ?? 'cpu');
  const options = sessionOptions(settings);
  const label = typeof model === 'string' ? model : '<in-memory model>';
  if (typeof model === 'string') {
    try {
      const info = await stat(model);
      if (!info.isFile()) throw new UserError(`${model}: not a file`);
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`${model}: cannot read model (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  const start = performance.now();
  try {
    // A path (not bytes) lets onnxruntime resolve external data files next to the model.
    const session =
      typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
    return { session, device, createMs: performance.now() - start };
  } catch (e) {
    throw new UserError(`${label}: onnxruntime cannot load this model: ${firstLine((e as Error).message)}`);
  }
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim())?.trim() ?? s;
}

export { ort };
