import { UserError } from '../errors.js';
import { elementCount, MIN_PIECE_BYTES, type DeferredBytes, type ModelProto } from '../onnx/index.js';
import type { WeightQuantizer } from './driver.js';
import { tensorFloatSource } from './float-source.js';
import type { QuantizeReport } from './report.js';
import { quantizeWeight, quantizeWithRanges, weightRanges, type WeightRanges } from './weights.js';
import type { FloatSource } from './weights.js';

interface Job {
  name: string;
  source: FloatSource;
  ranges: WeightRanges;
  placeholder: Int8Array;
}

/**
 * Large weights quantized while the output file is written (saveModel's `deferred`), not
 * before: the driver gets each one's scales and zero points (the first pass over its values)
 * and a zero-filled placeholder of the right length that is never touched; the int8 values are
 * computed chunk by chunk as the file is written, through one reused buffer. 105 MB of int8
 * weights of a BERT-base then never sit in fresh memory, whose page faults cost ~0.4 s on the
 * project's VM. The report's error fields of those weights are filled in as they are written.
 */
export class DeferredWeights {
  private readonly jobs: Job[] = [];

  constructor(private readonly source: { label: string; baseDir: string | undefined }) {}

  /** The driver's WeightQuantizer: defers what it can (large weights stored as they are), quantizes the rest at once. */
  readonly quantizer: WeightQuantizer = (name, tensor, dims, spec, axis, transposed) => {
    const source = tensorFloatSource(tensor, this.source.baseDir, this.source.label);
    // A transposed copy would read the placeholder, and saveModel defers only raw_data written as its own piece: those are quantized now.
    if (transposed || elementCount(dims) < MIN_PIECE_BYTES) return quantizeWeight(name, source, dims, spec, axis);
    const ranges = weightRanges(name, source, dims, spec, axis);
    const placeholder = new Int8Array(source.length);
    this.jobs.push({ name, source, ranges, placeholder });
    const data = spec.type === 'int8' ? placeholder : new Uint8Array(placeholder.buffer);
    // NaN until written (the report is completed by the writer).
    return { data, dims: [...dims], scales: ranges.scales, zeroPoints: ranges.zeroPoints, axis, maxAbsError: NaN, sqnrDb: NaN };
  };

  /**
   * saveModel's `deferred` for the quantized `model`: each weight's bytes, computed as they are
   * written, and its report entry (`report.tensors`) completed with its error.
   */
  bytes(model: ModelProto, report: QuantizeReport): Map<ArrayBufferLike, DeferredBytes> {
    const byBuffer = new Map<ArrayBufferLike, string>();
    for (const t of model.graph?.initializer ?? []) if (t.rawData) byBuffer.set(t.rawData.buffer, t.name ?? '');
    const deferred = new Map<ArrayBufferLike, DeferredBytes>();
    for (const job of this.jobs) {
      const quantizedName = byBuffer.get(job.placeholder.buffer);
      const entry = report.tensors.find((e) => e.quantizedName === quantizedName);
      if (quantizedName === undefined || !entry) throw new Error(`internal: deferred weight ${job.name} is not an initializer of the quantized model`);
      deferred.set(job.placeholder.buffer, (write) => {
        let error;
        try {
          error = quantizeWithRanges(job.name, job.source, job.ranges, (chunk) => write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)));
        } catch (e) {
          if (e instanceof UserError) throw new UserError(`${this.source.label}: ${e.message}`);
          throw e;
        }
        entry.maxAbsError = error.maxAbsError;
        entry.sqnrDb = Number.isFinite(error.sqnrDb) ? error.sqnrDb : null;
      });
    }
    return deferred;
  }
}
