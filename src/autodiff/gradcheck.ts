/**
 * Gradient checking: the autodiff's gradients against central finite differences of the
 * forward graph, for a scalar loss L = sum over outputs of <output, r> with fixed random r.
 * Every rule's test runs through this (float64 where onnxruntime's CPU kernels exist, so the
 * differences are accurate to ~1e-8; float32 otherwise, with a looser tolerance).
 */
import { SeededRandom } from '../architectures/random.js';
import { encodeModel, type ModelProto } from '../onnx/index.js';
import { openSession, ort } from '../runtime/session.js';
import { buildGradientModel } from './gradient-model.js';

export interface GradcheckOptions {
  /** Float graph inputs to check (their values come from `feeds`). */
  wrt: readonly string[];
  feeds: Record<string, ort.Tensor>;
  /** Finite-difference step (default 1e-6 for float64, 1e-2 for float32). */
  eps?: number;
  /** Elements checked per input, spread evenly (default all, at most 64). */
  maxElements?: number;
  /** Exactly which flat elements to check, per input (overrides maxElements). */
  indices?: Record<string, number[]>;
  /**
   * Check this many random directions per input instead of single elements: the derivative
   * along d (a normal vector) against g . d. Far less sensitive to float32 noise when each
   * element's gradient is tiny (attention weights at initialisation). `indices` still
   * restricts d to those elements.
   */
  directions?: number;
  seed?: number;
}

export interface GradcheckResult {
  name: string;
  /** Flat indices checked (for directional checks: the direction number). */
  indices: number[];
  analytic: number[];
  numeric: number[];
  /** max |analytic - numeric| over the checked elements. */
  maxAbsError: number;
  /** max |numeric| (the scale to judge the error against). */
  scale: number;
}

type FloatData = Float32Array | Float64Array;

export async function gradcheck(model: ModelProto, opts: GradcheckOptions): Promise<GradcheckResult[]> {
  const rng = new SeededRandom(opts.seed ?? 7);
  const outputs = (model.graph!.output ?? []).map((o) => o.name ?? '');
  const forward = (await openSession(encodeModel(model), { graphOptimizationLevel: 'disabled', threads: 1 })).session;
  const base = (await forward.run(opts.feeds)) as Record<string, ort.Tensor>;
  const weights = new Map<string, FloatData>();
  for (const o of outputs) {
    const t = base[o]!;
    const r = t.type === 'float64' ? new Float64Array(t.size) : new Float32Array(t.size);
    for (let i = 0; i < r.length; i++) r[i] = rng.normal();
    weights.set(o, r);
  }
  const loss = (out: Record<string, ort.Tensor>) => {
    let s = 0;
    for (const o of outputs) {
      const d = out[o]!.data as FloatData;
      const r = weights.get(o)!;
      for (let i = 0; i < d.length; i++) s += d[i]! * r[i]!;
    }
    return s;
  };

  const gm = await buildGradientModel(model, { wrt: opts.wrt, outputs });
  const backward = (await openSession(encodeModel(gm.model), { graphOptimizationLevel: 'disabled', threads: 1 })).session;
  const seeds: Record<string, ort.Tensor> = {};
  for (const o of outputs) {
    const t = base[o]!;
    seeds[gm.seedInputs.get(o)!] = new ort.Tensor(t.type as 'float32', weights.get(o)!, t.dims);
  }
  const grads = (await backward.run({ ...opts.feeds, ...seeds })) as Record<string, ort.Tensor>;

  const results: GradcheckResult[] = [];
  for (const name of opts.wrt) {
    const input = opts.feeds[name]!;
    const data = input.data as FloatData;
    const eps = opts.eps ?? (input.type === 'float64' ? 1e-6 : 1e-2);
    const g = grads[gm.gradOutputs.get(name)!]!.data as FloatData;
    const count = Math.min(data.length, opts.maxElements ?? 64);
    const indices = opts.indices?.[name] ?? Array.from({ length: count }, (_, k) => Math.floor((k * data.length) / count));
    const analytic: number[] = [];
    const numeric: number[] = [];
    const along = async (direction: FloatData) => {
      const perturbed = data.slice() as FloatData;
      const at = (delta: number) => {
        for (let i = 0; i < data.length; i++) perturbed[i] = data[i]! + delta * direction[i]!;
        return forward.run({ ...opts.feeds, [name]: new ort.Tensor(input.type as 'float32', perturbed, input.dims) });
      };
      const plus = loss((await at(eps)) as Record<string, ort.Tensor>);
      const minus = loss((await at(-eps)) as Record<string, ort.Tensor>);
      numeric.push((plus - minus) / (2 * eps));
      let dot = 0;
      for (let i = 0; i < data.length; i++) if (direction[i]) dot += g[i]! * direction[i]!;
      analytic.push(dot);
    };
    const checked: number[] = [];
    if (opts.directions) {
      const restrict = opts.indices?.[name];
      for (let k = 0; k < opts.directions; k++) {
        const d = input.type === 'float64' ? new Float64Array(data.length) : new Float32Array(data.length);
        if (restrict) for (const i of restrict) d[i] = rng.normal();
        else for (let i = 0; i < d.length; i++) d[i] = rng.normal();
        await along(d);
        checked.push(k);
      }
    } else {
      const unit = input.type === 'float64' ? new Float64Array(data.length) : new Float32Array(data.length);
      for (const i of indices) {
        unit[i] = 1;
        await along(unit);
        unit[i] = 0;
        checked.push(i);
      }
    }
    let maxAbsError = 0;
    let scale = 0;
    analytic.forEach((a, k) => {
      maxAbsError = Math.max(maxAbsError, Math.abs(a - numeric[k]!));
      scale = Math.max(scale, Math.abs(numeric[k]!));
    });
    results.push({ name, indices: checked, analytic, numeric, maxAbsError, scale });
  }
  await forward.release();
  await backward.release();
  return results;
}
