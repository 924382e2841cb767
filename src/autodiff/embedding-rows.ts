/**
 * Row gradients of an embedding table: instead of scattering into a dense [vocab, hidden]
 * gradient (30522 x 128 zeros every step for BERT's word embeddings, then an optimizer pass
 * over all of it), collect the rows the batch touched: Unique over the lookup ids gives the
 * rows and, for every looked-up position, which row it is; `scatterAddRows` sums the
 * per-position gradients into [U, hidden]. The optimizer then updates those U rows only.
 *
 * The sum is a ScatterElements with reduction='add' (opset 16), not ScatterND: onnxruntime's
 * CPU ScatterND splits the updates over the intra-op threads without synchronisation, so rows
 * repeated in a batch ([CLS], [SEP], token type 0) lose updates once a batch is large enough
 * to be split (and sums differ from run to run). Its ScatterElements adds the updates one
 * after the other in index order on one thread: the float32 sum in position order, the same at
 * any thread count. It is slower per element (~4 ms for 4096 x 128 against ~0.3 ms for
 * ScatterND on one thread): SST-2 student training at batch 32 on one thread lost about 7 % of
 * its examples/s. (Not a one-hot MatMul: that would scale with the vocabulary.)
 */
import { DataType } from '../onnx/index.js';
import type { GradEmitter } from './emit.js';

export interface TableLookup {
  /** The Gather's indices (any shape, int64 or int32). */
  indices: string;
  /** Gradient of the Gather's output. */
  dy: string;
}

export interface RowGradient {
  /** int64 [U]: the distinct rows looked up, ascending. */
  rows: string;
  /** [U, ...row dims]: the summed gradient of each row. */
  grad: string;
}

export function embeddingRowGradient(e: GradEmitter, table: string, lookups: readonly TableLookup[]): RowGradient {
  const dims = e.dims(table);
  const rowDims = dims.slice(1) as number[];
  const vocab = dims[0] as number;
  const ids = lookups.map(({ indices }) => {
    let idx = e.op('Reshape', [indices, e.ints([-1])]);
    if (e.elemType(indices) !== DataType.INT64) idx = e.op('Cast', [idx], { to: DataType.INT64 });
    const known = e.constNumbers(indices);
    if (known && known.every((v) => v >= 0)) return idx;
    const wrapped = e.op('Add', [idx, e.scalar(vocab, DataType.INT64)]);
    return e.op('Where', [e.op('Less', [idx, e.scalar(0, DataType.INT64)]), wrapped, idx]);
  });
  const updates = lookups.map(({ dy }) => e.op('Reshape', [dy, e.ints([-1, ...rowDims])]));
  const allIds = ids.length === 1 ? ids[0]! : e.op('Concat', ids, { axis: 0 });
  const allUpdates = updates.length === 1 ? updates[0]! : e.op('Concat', updates, { axis: 0 });
  const [rows, , inverse] = e.b.node('Unique', [allIds], {
    attrs: { sorted: 1 },
    outputs: [e.b.names.take(`${table}.rows`), '', e.b.names.take(`${table}.row_of_id`)],
    name: 'grad/Unique',
  });
  const zeros = e.zerosOfShape(e.op('Concat', [e.op('Shape', [rows!]), e.ints(rowDims)], { axis: 0 }), e.elemType(table));
  const grad = scatterAddRows(e, zeros, inverse!, allUpdates, rowDims.length);
  return { rows: rows!, grad };
}

/**
 * data with updates[k] added to row rows[k] (data [R, ...tail], rows int [K], updates
 * [K, ...tail], tailRank = rank(data) - 1), repeated rows summed in k order. ScatterElements
 * along axis 0 with the row index repeated over every element of its update; see the top of
 * this file for why not ScatterND. Rows must be in [0, R): callers wrap negative ids first.
 */
export function scatterAddRows(e: GradEmitter, data: string, rows: string, updates: string, tailRank: number): string {
  const column = e.op('Reshape', [rows, e.ints([-1, ...Array<number>(tailRank).fill(1)])]);
  const indices = tailRank ? e.op('Expand', [column, e.shapeOf(updates)]) : column;
  return e.op('ScatterElements', [data, indices, updates], { axis: 0, reduction: 'add' });
}
