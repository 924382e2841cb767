/**
 * Row gradients of an embedding table: instead of scattering into a dense [vocab, hidden]
 * gradient (30522 x 128 zeros every step for BERT's word embeddings, then an optimizer pass
 * over all of it), collect the rows the batch touched: Unique over the lookup ids gives the
 * rows and, for every looked-up position, which row it is; ScatterND reduction='add' sums the
 * per-position gradients into [U, hidden]. The optimizer then updates those U rows only.
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
  const grad = e.op('ScatterND', [zeros, e.op('Unsqueeze', [inverse!, e.ints([-1])]), allUpdates], { reduction: 'add' });
  return { rows: rows!, grad };
}
