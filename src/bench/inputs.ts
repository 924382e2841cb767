import { SeededRandom } from '../architectures/random.js';
import { UserError } from '../errors.js';
import { isTokenIdInput } from './model-info.js';

/** A model input as onnxruntime describes it (InferenceSession.ValueMetadata, plain data). */
export interface InputSpec {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: ReadonlyArray<number | string | undefined | null>;
}

export type FeedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array;

/** One input tensor as plain data (it crosses to a worker process); made into an ort.Tensor once. */
export interface FeedData {
  name: string;
  type: string;
  dims: number[];
  data: FeedArray;
}

export type InputRole = 'input_ids' | 'attention_mask' | 'token_type_ids' | 'position_ids' | 'other';

export function inputRole(name: string): InputRole {
  const n = name.replace(/:\d+$/, '').toLowerCase();
  if (isTokenIdInput(n)) return 'input_ids';
  if (/mask/.test(n)) return 'attention_mask';
  if (/token_type|segment/.test(n)) return 'token_type_ids';
  if (/position/.test(n)) return 'position_ids';
  return 'other';
}

const batchDimName = /batch|^(n|b|bs)$/i;
const sequenceDimName = /seq|sequence|length|len$|^(s|t|l)$|tokens?/i;

export interface ShapeRequest {
  batchSize: number;
  /** Whether the user chose the batch size (a model's fixed batch dim then must match it). */
  batchExplicit: boolean;
  seqLen?: number;
  /** Values for other named dynamic dims (`--dim name=N`). */
  dims?: Record<string, number>;
  /** For messages: the model file. */
  model: string;
}

export interface ResolvedShapes {
  /** Concrete dims per input name. */
  shapes: Record<string, number[]>;
  /** The batch and sequence lengths the inputs really have (a model's fixed dims win over defaults). */
  batchSize: number;
  seqLen?: number;
}

/**
 * Concrete input shapes for one point of the sweep. Symbolic dims resolve by name (batch-like,
 * sequence-like, or `dims`), unnamed ones of [batch, sequence] token inputs by position. A dim
 * that cannot be resolved is a UserError naming the input and the dim.
 */
export function resolveInputShapes(inputs: readonly InputSpec[], req: ShapeRequest): ResolvedShapes {
  const shapes: Record<string, number[]> = {};
  let batchSize: number | undefined;
  let seqLen: number | undefined;
  const dimLabel = (d: unknown) => (typeof d === 'string' && d ? ` ("${d}")` : '');
  for (const input of inputs) {
    if (!input.isTensor) throw new UserError(`${req.model}: input "${input.name}" is not a tensor; bench cannot build it`);
    const shape = input.shape ?? [];
    const tokenLike = inputRole(input.name) !== 'other' && shape.length === 2;
    const dims = shape.map((d, axis): number => {
      if (typeof d === 'number' && d > 0) {
        if (axis === 0 && req.batchExplicit && d !== req.batchSize && shape.length >= 2) {
          throw new UserError(`${req.model}: input "${input.name}" has a fixed batch dim of ${d}; --batch-size ${req.batchSize} does not fit it`);
        }
        if (axis === 0) batchSize ??= d;
        if (axis === 1 && tokenLike) {
          if (req.seqLen !== undefined && d !== req.seqLen) {
            throw new UserError(`${req.model}: input "${input.name}" has a fixed sequence length of ${d}; --seq-len ${req.seqLen} does not fit it`);
          }
          seqLen ??= d;
        }
        return d;
      }
      const named = typeof d === 'string' && d !== '' && !/^unk__\d+$/.test(d) ? d : undefined;
      if (named && req.dims && req.dims[named] !== undefined) return req.dims[named]!;
      const kind = named
        ? batchDimName.test(named) ? 'batch' : sequenceDimName.test(named) ? 'sequence' : undefined
        : undefined;
      const role = kind ?? (tokenLike ? (axis === 0 ? 'batch' : 'sequence') : undefined);
      if (role === 'batch') {
        batchSize ??= req.batchSize;
        return req.batchSize;
      }
      if (role === 'sequence') {
        if (req.seqLen === undefined) {
          throw new UserError(`${req.model}: input "${input.name}" dim ${axis}${dimLabel(d)} is a dynamic sequence length; pass --seq-len`);
        }
        seqLen ??= req.seqLen;
        return req.seqLen;
      }
      throw new UserError(
        `${req.model}: input "${input.name}" dim ${axis}${dimLabel(d)} is dynamic and is neither a batch nor a sequence dim; ` +
          `pass --dim ${named ?? '<name>'}=N`,
      );
    });
    shapes[input.name] = dims;
  }
  return { shapes, batchSize: batchSize ?? req.batchSize, ...(seqLen !== undefined ? { seqLen } : {}) };
}

/** Vocabulary sizes of BERT WordPiece vocabularies (uncased, cased, multilingual). */
const bertVocabSizes = new Set([30522, 28996, 119547, 105879]);

export interface SyntheticOptions {
  /** Rows of the embedding table; ids are drawn below it. */
  vocabSize?: number;
  /** config.json model_type, to recognise BERT-family vocabularies. */
  modelType?: string;
  seed?: number;
}

/** First id of whole words in BERT vocabularies: below it are [PAD], [unused*], [UNK], [CLS], [SEP], [MASK]. */
const BERT_FIRST_WORD_ID = 999;
const BERT_CLS = 101;
const BERT_SEP = 102;
/** Range used when the vocabulary is unknown: small enough for any embedding table. */
export const FALLBACK_VOCAB = 100;

/**
 * Inputs that look like real text to the model: token ids drawn from the vocabulary (with
 * [CLS]/[SEP] at the ends for BERT vocabularies), attention mask all 1s, token types 0,
 * positions 0..n-1, anything else small random values. Seeded, so every model sees the same ids.
 */
export function syntheticFeeds(inputs: readonly InputSpec[], shapes: Record<string, number[]>, opts: SyntheticOptions = {}): FeedData[] {
  const vocab = Math.max(2, opts.vocabSize ?? FALLBACK_VOCAB);
  const bertLike =
    bertVocabSizes.has(vocab) || (['bert', 'distilbert', 'electra', 'mobilebert'].includes(opts.modelType ?? '') && vocab > BERT_FIRST_WORD_ID + 1);
  const lowId = bertLike ? BERT_FIRST_WORD_ID : 1;
  return inputs.map((input) => {
    const dims = shapes[input.name]!;
    const n = dims.reduce((a, b) => a * b, 1);
    const seq = dims.length >= 2 ? dims[dims.length - 1]! : n;
    const rng = new SeededRandom((opts.seed ?? 0) + 1);
    const values = new Float64Array(n);
    switch (inputRole(input.name)) {
      case 'input_ids':
        for (let i = 0; i < n; i++) {
          const j = i % seq;
          values[i] = bertLike && j === 0 ? BERT_CLS : bertLike && j === seq - 1 && seq > 1 ? BERT_SEP : lowId + rng.int(vocab - lowId);
        }
        break;
      case 'attention_mask':
        values.fill(1);
        break;
      case 'position_ids':
        for (let i = 0; i < n; i++) values[i] = i % seq;
        break;
      case 'token_type_ids':
        break;
      case 'other':
        if (isFloatType(input.type)) for (let i = 0; i < n; i++) values[i] = rng.next() * 2 - 1;
        break;
    }
    return { name: input.name, type: input.type ?? 'float32', dims, data: typedArray(input, values) };
  });
}

function isFloatType(type: string | undefined): boolean {
  return type === 'float32' || type === 'float64' || type === 'float16';
}

/** Converts values to the typed array onnxruntime wants for the input's element type. */
export function typedArray(input: InputSpec, values: ArrayLike<number>): FeedArray {
  switch (input.type) {
    case 'int64':
      return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v))));
    case 'int32':
      return Int32Array.from(values);
    case 'float32':
      return Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int8':
      return Int8Array.from(values);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(values, (v) => (input.type === 'bool' ? (v ? 1 : 0) : v));
    case 'float16':
      // Only zeros are written as half floats here (0 has the same bits in every float format).
      return new Uint16Array(values.length);
    default:
      throw new UserError(`input "${input.name}" has element type ${input.type ?? 'unknown'}, which bench cannot generate`);
  }
}

/** Tokens one run processes: attention-mask 1s when the model takes a mask, else batch x sequence. */
export function tokensIn(feeds: readonly FeedData[], batchSize: number, seqLen: number | undefined): number {
  const mask = feeds.find((f) => inputRole(f.name) === 'attention_mask');
  if (mask) {
    let sum = 0;
    for (let i = 0; i < mask.data.length; i++) sum += Number(mask.data[i]!);
    return sum;
  }
  return batchSize * (seqLen ?? 1);
}

/** One tokenized example (ids and segment ids, special tokens included). */
export interface TextEncoding {
  ids: number[];
  typeIds: number[];
}

/**
 * Feeds from real sentences: `batchSize` encodings (cycled when there are fewer), padded with
 * `padId` (mask 0) or cut to `seqLen`; when seqLen is undefined, padded to the batch's longest.
 */
export function textFeeds(
  inputs: readonly InputSpec[],
  encodings: readonly TextEncoding[],
  req: ShapeRequest & { padId: number; vocabSize?: number; seed?: number },
): { feeds: FeedData[]; resolved: ResolvedShapes } {
  if (encodings.length === 0) throw new UserError(`${req.model}: --data has no examples`);
  const rows = Array.from({ length: req.batchSize }, (_, i) => encodings[i % encodings.length]!);
  const seqLen = req.seqLen ?? Math.max(...rows.map((r) => r.ids.length));
  const resolved = resolveInputShapes(inputs, { ...req, seqLen });
  const seq = resolved.seqLen ?? seqLen;
  const batch = resolved.batchSize;
  const ids = new Float64Array(batch * seq).fill(req.padId);
  const mask = new Float64Array(batch * seq);
  const types = new Float64Array(batch * seq);
  for (let r = 0; r < batch; r++) {
    const e = rows[r % rows.length]!;
    const len = Math.min(seq, e.ids.length);
    for (let j = 0; j < len; j++) {
      ids[r * seq + j] = e.ids[j]!;
      mask[r * seq + j] = 1;
      types[r * seq + j] = e.typeIds[j] ?? 0;
    }
  }
  const synthetic = syntheticFeeds(inputs, resolved.shapes, { vocabSize: req.vocabSize, seed: req.seed });
  const feeds = synthetic.map((f, k) => {
    const input = inputs[k]!;
    const sameShape = f.dims.length === 2 && f.dims[0] === batch && f.dims[1] === seq;
    const role = inputRole(input.name);
    if (!sameShape || role === 'other' || role === 'position_ids') return f;
    const source = role === 'input_ids' ? ids : role === 'attention_mask' ? mask : types;
    return { ...f, data: typedArray(input, source) };
  });
  return { feeds, resolved };
}
