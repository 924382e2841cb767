import { GraphBuilder } from '../onnx/builder.js';
import { DataType, type ModelProto } from '../onnx/proto.js';
import { makeTensor } from '../onnx/tensor.js';
import { SeededRandom } from './random.js';

/** The fields of a Hugging Face BERT config.json that shape the graph. */
export interface BertConfig {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  numLabels: number;
  layerNormEps: number;
  initializerRange: number;
}

export const defaultBertConfig: Omit<BertConfig, 'vocabSize' | 'numLabels'> = {
  hiddenSize: 128,
  numLayers: 2,
  numHeads: 2,
  intermediateSize: 512,
  maxPositions: 512,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
  initializerRange: 0.02,
};

/** config.json content (HF BertForSequenceClassification) for a BertConfig and label names. */
export function bertConfigJson(c: BertConfig, labels: string[]): Record<string, unknown> {
  return {
    architectures: ['BertForSequenceClassification'],
    model_type: 'bert',
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    intermediate_size: c.intermediateSize,
    hidden_act: 'gelu',
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxPositions,
    type_vocab_size: c.typeVocabSize,
    layer_norm_eps: c.layerNormEps,
    initializer_range: c.initializerRange,
    pad_token_id: 0,
    num_labels: c.numLabels,
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    problem_type: 'single_label_classification',
  };
}

/** Reads the graph-shaping fields from an HF config.json object. */
export function bertConfigFromJson(j: Record<string, unknown>): BertConfig {
  const num = (k: string, d?: number) => {
    const v = j[k];
    if (typeof v === 'number') return v;
    if (d === undefined) throw new Error(`config.json has no ${k}`);
    return d;
  };
  const id2label = j.id2label as Record<string, string> | undefined;
  return {
    vocabSize: num('vocab_size'),
    hiddenSize: num('hidden_size'),
    numLayers: num('num_hidden_layers'),
    numHeads: num('num_attention_heads'),
    intermediateSize: num('intermediate_size', 4 * num('hidden_size')),
    maxPositions: num('max_position_embeddings', 512),
    typeVocabSize: num('type_vocab_size', 2),
    numLabels: num('num_labels', id2label ? Object.keys(id2label).length : 2),
    layerNormEps: num('layer_norm_eps', 1e-12),
    initializerRange: num('initializer_range', 0.02),
  };
}

/**
 * Graph-shape variants, so tests can reproduce the families exporters write. The defaults are
 * HF BertForSequenceClassification as this project always built it.
 */
export interface BertBuildOptions {
  seed?: number;
  /** Default 17 (the LayerNormalization op needs 17; 'decomposed' works from 13). */
  opset?: number;
  /** 'op': LayerNormalization; 'decomposed': ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add as PyTorch exports it at opset 14. */
  layerNorm?: 'op' | 'decomposed';
  /** 'post': LN after each residual add (BERT); 'pre': LN before attention and FFN, a final LN after the last block, no embedding LN. */
  norm?: 'post' | 'pre';
  /** 3: input_ids, attention_mask, token_type_ids; 2: no token_type_ids (DistilBERT-style, no token-type table). */
  inputs?: 2 | 3;
  /** 'pooler': first token, dense + tanh; 'mean': masked mean over tokens, no pooler. */
  pooling?: 'pooler' | 'mean';
}

/**
 * A BERT encoder + pooler + classifier (HF BertForSequenceClassification, post-LayerNorm,
 * exact erf GELU, additive mask (1 - mask) * -10000) as an ONNX graph of standard ops, with
 * BERT-style initialisation: normal(0, initializer_range) for matrices and embeddings, zero
 * biases, LayerNorm 1/0, the [PAD] row zeroed. Inputs input_ids, attention_mask,
 * token_type_ids (int64 [batch, sequence]); output logits [batch, num_labels].
 * Parameter names follow Hugging Face's so weights map across tools. `opts` picks variants
 * (see BertBuildOptions); the defaults give the graph above.
 */
export function buildBertClassifier(c: BertConfig, opts: BertBuildOptions = {}): ModelProto {
  if (c.hiddenSize % c.numHeads !== 0) throw new Error(`hidden size ${c.hiddenSize} is not a multiple of ${c.numHeads} heads`);
  const opset = opts.opset ?? 17;
  const lnKind = opts.layerNorm ?? 'op';
  const norm = opts.norm ?? 'post';
  const inputCount = opts.inputs ?? 3;
  const pooling = opts.pooling ?? 'pooler';
  if (lnKind === 'op' && opset < 17) throw new Error(`the LayerNormalization op needs opset 17 (asked for ${opset}); use layerNorm: 'decomposed'`);
  if (opset < 13) throw new Error(`opset ${opset} is older than this builder writes (13+)`);
  const rng = new SeededRandom(opts.seed ?? 0);
  const b = new GraphBuilder({ name: 'bert_classifier', opset });
  const H = c.hiddenSize;
  const headDim = H / c.numHeads;
  const normal = (n: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = rng.normal() * c.initializerRange;
    return a;
  };
  const weight = (name: string, dims: number[]) => b.initializer(name, normal(dims.reduce((x, y) => x * y, 1)), dims);
  const zeros = (name: string, n: number) => b.initializer(name, new Float32Array(n), [n]);
  const ones = (name: string, n: number) => b.initializer(name, new Float32Array(n).fill(1), [n]);
  // PyTorch writes scalars of decomposed ops as Constant nodes, not initializers.
  const constantNode = (value: number) => b.op('Constant', [], { value: makeTensor('', Float32Array.of(value), []) });
  const reduceMean = (x: string) =>
    opset >= 18 ? b.op('ReduceMean', [x, b.int64([-1], [1], 'reduce_axes')]) : b.op('ReduceMean', [x], { axes: [-1] });

  const ids = b.input('input_ids', DataType.INT64, ['batch', 'sequence']);
  const mask = b.input('attention_mask', DataType.INT64, ['batch', 'sequence']);
  const types = inputCount === 3 ? b.input('token_type_ids', DataType.INT64, ['batch', 'sequence']) : undefined;

  const layerNorm = (x: string, prefix: string) => {
    const gamma = ones(`${prefix}.weight`, H);
    const beta = zeros(`${prefix}.bias`, H);
    if (lnKind === 'op') return b.op('LayerNormalization', [x, gamma, beta], { axis: -1, epsilon: { float: c.layerNormEps } });
    const centered = b.op('Sub', [x, reduceMean(x)]);
    const variance = reduceMean(b.op('Pow', [centered, constantNode(2)]));
    const std = b.op('Sqrt', [b.op('Add', [variance, constantNode(c.layerNormEps)])]);
    return b.op('Add', [b.op('Mul', [b.op('Div', [centered, std]), gamma]), beta]);
  };
  const linear = (x: string, prefix: string, inDim: number, outDim: number) =>
    b.op('Add', [b.op('MatMul', [x, weight(`${prefix}.weight`, [inDim, outDim])]), zeros(`${prefix}.bias`, outDim)]);

  // Embeddings.
  const wordTable = normal(c.vocabSize * H);
  wordTable.fill(0, 0, H); // [PAD] row
  const words = b.op('Gather', [b.initializer('bert.embeddings.word_embeddings.weight', wordTable, [c.vocabSize, H]), ids]);
  const positionIds = b.int64(
    Array.from({ length: c.maxPositions }, (_, i) => i),
    [1, c.maxPositions],
    'bert.embeddings.position_ids',
  );
  const seqLen = b.op('Slice', [b.op('Shape', [ids]), b.int64([1]), b.int64([2])]);
  const posSlice = b.op('Slice', [positionIds, b.int64([0]), seqLen, b.int64([1])]);
  const positions = b.op('Gather', [weight('bert.embeddings.position_embeddings.weight', [c.maxPositions, H]), posSlice]);
  const tokenTypes = types && b.op('Gather', [weight('bert.embeddings.token_type_embeddings.weight', [c.typeVocabSize, H]), types]);
  const wordsAndPositions = b.op('Add', [words, positions]);
  const summed = tokenTypes ? b.op('Add', [wordsAndPositions, tokenTypes]) : wordsAndPositions;
  let hidden = norm === 'post' ? layerNorm(summed, 'bert.embeddings.LayerNorm') : summed;

  // Additive attention mask [batch, 1, 1, sequence].
  const maskF = b.op('Cast', [mask], { to: DataType.FLOAT });
  const inverted = b.op('Sub', [b.scalar(1, 'one'), maskF]);
  const additive = b.op('Mul', [inverted, b.scalar(-10000, 'mask_fill')]);
  const mask4d = b.op('Unsqueeze', [additive, b.int64([1, 2])]);

  const headsShape = b.int64([0, 0, c.numHeads, headDim]);
  const mergedShape = b.int64([0, 0, H]);
  const scale = b.scalar(Math.sqrt(headDim), 'attention_scale');
  const sqrt2 = b.scalar(Math.SQRT2, 'sqrt2');
  const one = b.scalar(1, 'gelu_one');
  const half = b.scalar(0.5, 'gelu_half');

  for (let l = 0; l < c.numLayers; l++) {
    const p = `bert.encoder.layer.${l}`;
    const attnIn = norm === 'pre' ? layerNorm(hidden, `${p}.attention.LayerNorm`) : hidden;
    const split = (x: string) => b.op('Transpose', [b.op('Reshape', [x, headsShape])], { perm: [0, 2, 1, 3] });
    const q = split(linear(attnIn, `${p}.attention.self.query`, H, H));
    const kT = b.op('Transpose', [b.op('Reshape', [linear(attnIn, `${p}.attention.self.key`, H, H), headsShape])], { perm: [0, 2, 3, 1] });
    const v = split(linear(attnIn, `${p}.attention.self.value`, H, H));
    const scores = b.op('Add', [b.op('Div', [b.op('MatMul', [q, kT]), scale]), mask4d]);
    const probs = b.op('Softmax', [scores], { axis: -1 });
    const context = b.op('Reshape', [b.op('Transpose', [b.op('MatMul', [probs, v])], { perm: [0, 2, 1, 3] }), mergedShape]);
    const attnOut = linear(context, `${p}.attention.output.dense`, H, H);
    hidden = b.op('Add', [attnOut, hidden]);
    if (norm === 'post') hidden = layerNorm(hidden, `${p}.attention.output.LayerNorm`);
    const ffnIn = norm === 'pre' ? layerNorm(hidden, `${p}.output.LayerNorm`) : hidden;
    const inter = linear(ffnIn, `${p}.intermediate.dense`, H, c.intermediateSize);
    // Exact GELU: x * 0.5 * (1 + erf(x / sqrt(2))), as PyTorch exports it.
    const gelu = b.op('Mul', [b.op('Mul', [inter, b.op('Add', [b.op('Erf', [b.op('Div', [inter, sqrt2])]), one])]), half]);
    const out = linear(gelu, `${p}.output.dense`, c.intermediateSize, H);
    hidden = b.op('Add', [out, hidden]);
    if (norm === 'post') hidden = layerNorm(hidden, `${p}.output.LayerNorm`);
  }
  if (norm === 'pre') hidden = layerNorm(hidden, 'bert.encoder.LayerNorm');

  let pooled: string;
  if (pooling === 'pooler') {
    // Pooler on the first token (Gemm with transB, as the exporter writes nn.Linear on 2-D input).
    const first = b.op('Gather', [hidden, b.int64([0], [], 'first_token')], { axis: 1 });
    pooled = b.op('Tanh', [
      b.op('Gemm', [first, weight('bert.pooler.dense.weight', [H, H]), zeros('bert.pooler.dense.bias', H)], { transB: 1 }),
    ]);
  } else {
    // Masked mean over the sequence: sum(hidden * mask) / max(sum(mask), 1e-9).
    const axis1 = b.int64([1], [1], 'mean_axis');
    const mask3d = b.op('Unsqueeze', [maskF, b.int64([-1], [1], 'mask_last_axis')]);
    const total = b.op('ReduceSum', [b.op('Mul', [hidden, mask3d]), axis1], { keepdims: 0 });
    const count = b.op('Max', [b.op('ReduceSum', [mask3d, axis1], { keepdims: 0 }), b.scalar(1e-9, 'mean_floor')]);
    pooled = b.op('Div', [total, count]);
  }
  b.node('Gemm', [pooled, weight('classifier.weight', [c.numLabels, H]), zeros('classifier.bias', c.numLabels)], {
    attrs: { transB: 1 },
    outputs: ['logits'],
  });
  b.output('logits', DataType.FLOAT, ['batch', c.numLabels]);
  return b.build();
}
