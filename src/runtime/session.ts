import { spawnSync } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import { UserError } from '../errors.js';
import { isNoWebgpuAdapter, resolveDevice, webgpuNoAdapterHint, type Device, type ResolvedDevice } from './device.js';

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface SessionSettings {
  device?: Device;
  /** Intra-op threads; 0 or undefined lets onnxruntime choose (one per physical core). */
  threads?: number;
  graphOptimizationLevel?: GraphOptimizationLevel;
  /** Collect onnxruntime's profile (used by `bench` to report node placement). */
  profileFilePrefix?: string;
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * The session only checks that the model loads (schemas, types, kernels) and is never run:
   * weights are not prepacked for the kernels, which on a BERT-base int8 model cuts session
   * creation from 1.28 s to 0.07 s while still refusing unknown ops and bad attributes.
   */
  loadCheckOnly?: boolean;
  /** Write the graph onnxruntime runs (after its optimizations at `graphOptimizationLevel`) to this file. */
  optimizedModelFilePath?: string;
}

export interface OpenedSession {
  session: ort.InferenceSession;
  device: ResolvedDevice;
  /** Milliseconds spent creating the session. */
  createMs: number;
}

/** Builds onnxruntime session options from our settings. The one place that does. */
export function sessionOptions(settings: SessionSettings = {}): ort.InferenceSession.SessionOptions {
  const device = resolveDevice(settings.device ?? 'cpu');
  const opts: ort.InferenceSession.SessionOptions = {
    // The CPU provider takes what the GPU one cannot run (placement shows where each node went).
    executionProviders: device === 'cpu' ? ['cpu'] : [device, 'cpu'],
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
  if (settings.loadCheckOnly) opts.extra = { session: { disable_prepacking: '1' } };
  if (settings.optimizedModelFilePath) opts.optimizedModelFilePath = settings.optimizedModelFilePath;
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
  if (device === 'webgpu') probeWebgpu();
  const start = performance.now();
  try {
    // A path (not bytes) lets onnxruntime resolve external data files next to the model.
    const session =
      typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
    return { session, device, createMs: performance.now() - start };
  } catch (e) {
    if (device === 'webgpu' && isNoWebgpuAdapter((e as Error).message)) throw new UserError(webgpuNoAdapterHint);
    throw new UserError(`${label}: onnxruntime cannot load this model: ${firstLine((e as Error).message)}`);
  }
}

let webgpuProbed = false;

/**
 * Asks for a WebGPU adapter once, in a child process: without one, onnxruntime's WebGPU provider
 * (Dawn) prints native warnings to this process's stderr before it fails; the child keeps them,
 * and the user gets one line.
 */
function probeWebgpu(): void {
  if (webgpuProbed) return;
  // A one-node graph (Identity on a float) as protobuf bytes: enough for session creation.
  const identity = 'CAgSBXByb2JlOjkKGgoBeBIBeRoISWRlbnRpdHkiCElkZW50aXR5EgFnWgsKAXgSBgoECAESAGILCgF5EgYKBAgBEgBCAhAR';
  const script =
    `const ort = require(${JSON.stringify(createRequire(import.meta.url).resolve('onnxruntime-node'))});` +
    `ort.InferenceSession.create(Buffer.from(${JSON.stringify(identity)}, 'base64'), { executionProviders: ['webgpu'] })` +
    `.then(() => process.stdout.write('ok'), (e) => process.stdout.write(String(e && e.message)));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  if (isNoWebgpuAdapter(r.stdout ?? '')) throw new UserError(webgpuNoAdapterHint);
  webgpuProbed = true;
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim())?.trim() ?? s;
}

export { ort };
