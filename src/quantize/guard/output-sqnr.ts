import { encodeModel, type ModelProto } from '../../onnx/index.js';
import { openSession, type ort } from '../../runtime/session.js';
import { sqnrDb } from '../qparams.js';
import type { Feeds } from './feeds.js';
import type { GuardMetric } from './guard.js';

/** Every float output of a model on each set of inputs. */
async function runOutputs(model: ModelProto, feeds: readonly Feeds[]): Promise<Array<Record<string, ort.Tensor>>> {
  const { session } = await openSession(encodeModel(model), { threads: 0 });
  try {
    const out: Array<Record<string, ort.Tensor>> = [];
    for (const f of feeds) out.push((await session.run(f)) as Record<string, ort.Tensor>);
    return out;
  } finally {
    await session.release();
  }
}

/**
 * Output SQNR against the fp32 model, over every float output and every input set (one sum of
 * squares for the signal, one for the error): the guard's metric for models that do not
 * classify text. Within budget when at least `minDb`.
 */
export async function outputSqnrMetric(fp32: ModelProto, feeds: readonly Feeds[], minDb: number): Promise<GuardMetric> {
  const reference = await runOutputs(fp32, feeds);
  return {
    name: 'output SQNR (dB)',
    budget: `min ${minDb} dB`,
    within: (value) => value >= minDb,
    async measure(model) {
      const got = await runOutputs(model, feeds);
      let signal = 0;
      let noise = 0;
      reference.forEach((ref, k) => {
        for (const [name, t] of Object.entries(ref)) {
          if (t.type !== 'float32' && t.type !== 'float64') continue;
          const a = t.data as Float32Array;
          const b = got[k]![name]!.data as Float32Array;
          for (let i = 0; i < a.length; i++) {
            signal += a[i]! * a[i]!;
            noise += (a[i]! - b[i]!) ** 2;
          }
        }
      });
      // Infinity when the outputs are exact (every node back in float).
      return sqnrDb(signal, noise);
    },
  };
}
