import { createRequire } from 'node:module';
import type { onnx as OnnxTypes } from 'onnx-proto';
import type Long from 'long';

/**
 * TypeScript shapes of ONNX messages: onnx-proto's generated interfaces (ONNX 1.10) widened
 * with the fields newer ONNX added (see schema.ts). Messages are plain objects as protobufjs
 * decodes them: absent optional fields are undefined, int64 fields are number or Long.
 */
// Required, not imported: Node first scans a CommonJS file imported from ESM for its export
// names, and onnx-proto's generated code is 331 KB (import 100-170 ms, require 30-50 ms, on the
// start-up of every command). schema.ts requires protobufjs and long for the same reason.
const onnxProto = createRequire(import.meta.url)('onnx-proto') as typeof import('onnx-proto');
export const onnx = onnxProto.onnx;

export type Int64 = number | Long;
export type StringStringEntry = { key?: string | null; value?: string | null };
type WithMetadata = { metadataProps?: StringStringEntry[] | null };

export type TensorProto = OnnxTypes.ITensorProto & WithMetadata;
export type AttributeProto = Omit<OnnxTypes.IAttributeProto, 't' | 'g' | 'tensors' | 'graphs'> & {
  t?: TensorProto | null;
  g?: GraphProto | null;
  tensors?: TensorProto[] | null;
  graphs?: GraphProto[] | null;
};
export type NodeProto = Omit<OnnxTypes.INodeProto, 'attribute'> &
  WithMetadata & { attribute?: AttributeProto[] | null; overload?: string | null; deviceConfigurations?: unknown[] | null };
export type ValueInfoProto = OnnxTypes.IValueInfoProto & WithMetadata;
export type TypeProto = OnnxTypes.ITypeProto;
export type GraphProto = Omit<OnnxTypes.IGraphProto, 'node' | 'initializer' | 'input' | 'output' | 'valueInfo'> &
  WithMetadata & {
    node?: NodeProto[] | null;
    initializer?: TensorProto[] | null;
    input?: ValueInfoProto[] | null;
    output?: ValueInfoProto[] | null;
    valueInfo?: ValueInfoProto[] | null;
  };
export type OperatorSetId = { domain?: string | null; version?: Int64 | null };
export type FunctionProto = Omit<OnnxTypes.IFunctionProto, 'node'> &
  WithMetadata & { node?: NodeProto[] | null; overload?: string | null; valueInfo?: ValueInfoProto[] | null };
export type ModelProto = Omit<OnnxTypes.IModelProto, 'graph' | 'functions' | 'opsetImport'> & {
  graph?: GraphProto | null;
  opsetImport?: OperatorSetId[] | null;
  functions?: FunctionProto[] | null;
  configuration?: unknown[] | null;
};

export const DataType = {
  UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16,
  FLOAT8E4M3FN: 17, FLOAT8E4M3FNUZ: 18, FLOAT8E5M2: 19, FLOAT8E5M2FNUZ: 20, UINT4: 21, INT4: 22,
} as const;
export type DataTypeCode = number;

export const AttributeType = onnx.AttributeProto.AttributeType;
