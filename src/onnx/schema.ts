import { createRequire } from 'node:module';

// CommonJS packages, required rather than imported (see proto.ts).
const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as typeof import('protobufjs');
const Long = require('long') as typeof import('long');

/**
 * The ONNX protobuf schema as protobufjs reflection JSON.
 *
 * onnx-proto ships static code for ONNX 1.10 (IR 8). Exporters today write fields it does not
 * know (metadata_props on nodes/graphs/tensors/value infos, function overloads and value_info,
 * IR 9-11 types like float8/int4, model configuration); its static decoder would silently drop
 * them. This schema extends that one to the current onnx.proto (field numbers from
 * onnx/onnx.proto, ONNX 1.19), so a load -> save round trip keeps everything the file holds.
 * onnx-proto still provides the TypeScript shapes (see proto.ts) and the enums.
 */
const repeated = (type: string, id: number, packed = false) => ({
  rule: 'repeated',
  type,
  id,
  // onnx.proto is proto2: repeated scalars are unpacked unless marked [packed = true].
  options: { packed },
});
const opt = (type: string, id: number) => ({ type, id });

export const onnxSchemaJson = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: opt('string', 1),
            refAttrName: opt('string', 21),
            docString: opt('string', 13),
            type: opt('AttributeType', 20),
            f: opt('float', 2),
            i: opt('int64', 3),
            s: opt('bytes', 4),
            t: opt('TensorProto', 5),
            g: opt('GraphProto', 6),
            sparseTensor: opt('SparseTensorProto', 22),
            tp: opt('TypeProto', 14),
            floats: repeated('float', 7),
            ints: repeated('int64', 8),
            strings: repeated('bytes', 9),
            tensors: repeated('TensorProto', 10),
            graphs: repeated('GraphProto', 11),
            sparseTensors: repeated('SparseTensorProto', 23),
            typeProtos: repeated('TypeProto', 15),
          },
          nested: {
            AttributeType: {
              values: {
                UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, SPARSE_TENSOR: 11, TYPE_PROTO: 13,
                FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10, SPARSE_TENSORS: 12, TYPE_PROTOS: 14,
              },
            },
          },
        },
        ValueInfoProto: {
          fields: {
            name: opt('string', 1),
            type: opt('TypeProto', 2),
            docString: opt('string', 3),
            metadataProps: repeated('StringStringEntryProto', 4),
          },
        },
        NodeProto: {
          fields: {
            input: repeated('string', 1),
            output: repeated('string', 2),
            name: opt('string', 3),
            opType: opt('string', 4),
            domain: opt('string', 7),
            overload: opt('string', 8),
            attribute: repeated('AttributeProto', 5),
            docString: opt('string', 6),
            metadataProps: repeated('StringStringEntryProto', 9),
            deviceConfigurations: repeated('NodeDeviceConfigurationProto', 10),
          },
        },
        IntIntListEntryProto: { fields: { key: opt('int64', 1), value: repeated('int64', 2) } },
        NodeDeviceConfigurationProto: {
          fields: {
            configurationId: opt('string', 1),
            shardingSpec: repeated('ShardingSpecProto', 2),
            pipelineStage: opt('int32', 3),
          },
        },
        ShardingSpecProto: {
          fields: {
            tensorName: opt('string', 1),
            device: repeated('int64', 2),
            indexToDeviceGroupMap: repeated('IntIntListEntryProto', 3),
            shardedDim: repeated('ShardedDimProto', 4),
          },
        },
        ShardedDimProto: { fields: { axis: opt('int64', 1), simpleSharding: repeated('SimpleShardedDimProto', 2) } },
        SimpleShardedDimProto: {
          oneofs: { dim: { oneof: ['dimValue', 'dimParam'] } },
          fields: { dimValue: opt('int64', 1), dimParam: opt('string', 2), numShards: opt('int64', 3) },
        },
        TrainingInfoProto: {
          fields: {
            initialization: opt('GraphProto', 1),
            algorithm: opt('GraphProto', 2),
            initializationBinding: repeated('StringStringEntryProto', 3),
            updateBinding: repeated('StringStringEntryProto', 4),
          },
        },
        ModelProto: {
          fields: {
            irVersion: opt('int64', 1),
            opsetImport: repeated('OperatorSetIdProto', 8),
            producerName: opt('string', 2),
            producerVersion: opt('string', 3),
            domain: opt('string', 4),
            modelVersion: opt('int64', 5),
            docString: opt('string', 6),
            graph: opt('GraphProto', 7),
            metadataProps: repeated('StringStringEntryProto', 14),
            trainingInfo: repeated('TrainingInfoProto', 20),
            functions: repeated('FunctionProto', 25),
            configuration: repeated('DeviceConfigurationProto', 26),
          },
        },
        DeviceConfigurationProto: {
          fields: { name: opt('string', 1), numDevices: opt('int32', 2), device: repeated('string', 3) },
        },
        StringStringEntryProto: { fields: { key: opt('string', 1), value: opt('string', 2) } },
        TensorAnnotation: {
          fields: {
            tensorName: opt('string', 1),
            quantParameterTensorNames: repeated('StringStringEntryProto', 2),
          },
        },
        GraphProto: {
          fields: {
            node: repeated('NodeProto', 1),
            name: opt('string', 2),
            initializer: repeated('TensorProto', 5),
            sparseInitializer: repeated('SparseTensorProto', 15),
            docString: opt('string', 10),
            input: repeated('ValueInfoProto', 11),
            output: repeated('ValueInfoProto', 12),
            valueInfo: repeated('ValueInfoProto', 13),
            quantizationAnnotation: repeated('TensorAnnotation', 14),
            metadataProps: repeated('StringStringEntryProto', 16),
          },
        },
        TensorProto: {
          fields: {
            dims: repeated('int64', 1),
            dataType: opt('int32', 2),
            segment: opt('Segment', 3),
            floatData: repeated('float', 4, true),
            int32Data: repeated('int32', 5, true),
            stringData: repeated('bytes', 6),
            int64Data: repeated('int64', 7, true),
            name: opt('string', 8),
            docString: opt('string', 12),
            rawData: opt('bytes', 9),
            externalData: repeated('StringStringEntryProto', 13),
            dataLocation: opt('DataLocation', 14),
            doubleData: repeated('double', 10, true),
            uint64Data: repeated('uint64', 11, true),
            metadataProps: repeated('StringStringEntryProto', 16),
          },
          nested: {
            DataType: {
              values: {
                UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8,
                BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15,
                BFLOAT16: 16, FLOAT8E4M3FN: 17, FLOAT8E4M3FNUZ: 18, FLOAT8E5M2: 19, FLOAT8E5M2FNUZ: 20, UINT4: 21,
                INT4: 22, FLOAT4E2M1: 23, FLOAT8E8M0: 24, UINT2: 25, INT2: 26,
              },
            },
            Segment: { fields: { begin: opt('int64', 1), end: opt('int64', 2) } },
            DataLocation: { values: { DEFAULT: 0, EXTERNAL: 1 } },
          },
        },
        SparseTensorProto: {
          fields: { values: opt('TensorProto', 1), indices: opt('TensorProto', 2), dims: repeated('int64', 3) },
        },
        TensorShapeProto: {
          fields: { dim: repeated('Dimension', 1) },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: { dimValue: opt('int64', 1), dimParam: opt('string', 2), denotation: opt('string', 3) },
            },
          },
        },
        TypeProto: {
          oneofs: {
            value: { oneof: ['tensorType', 'sequenceType', 'mapType', 'optionalType', 'sparseTensorType', 'opaqueType'] },
          },
          fields: {
            tensorType: opt('Tensor', 1),
            sequenceType: opt('Sequence', 4),
            mapType: opt('Map', 5),
            optionalType: opt('Optional', 9),
            sparseTensorType: opt('SparseTensor', 8),
            opaqueType: opt('Opaque', 7),
            denotation: opt('string', 6),
          },
          nested: {
            Tensor: { fields: { elemType: opt('int32', 1), shape: opt('TensorShapeProto', 2) } },
            Sequence: { fields: { elemType: opt('TypeProto', 1) } },
            Map: { fields: { keyType: opt('int32', 1), valueType: opt('TypeProto', 2) } },
            Optional: { fields: { elemType: opt('TypeProto', 1) } },
            SparseTensor: { fields: { elemType: opt('int32', 1), shape: opt('TensorShapeProto', 2) } },
            Opaque: { fields: { domain: opt('string', 1), name: opt('string', 2) } },
          },
        },
        OperatorSetIdProto: { fields: { domain: opt('string', 1), version: opt('int64', 2) } },
        FunctionProto: {
          fields: {
            name: opt('string', 1),
            input: repeated('string', 4),
            output: repeated('string', 5),
            attribute: repeated('string', 6),
            attributeProto: repeated('AttributeProto', 11),
            node: repeated('NodeProto', 7),
            docString: opt('string', 8),
            opsetImport: repeated('OperatorSetIdProto', 9),
            domain: opt('string', 10),
            overload: opt('string', 13),
            valueInfo: repeated('ValueInfoProto', 12),
            metadataProps: repeated('StringStringEntryProto', 14),
          },
        },
      },
    },
  },
};

// int64 fields decode to Long (exact for INT64_MAX, which Slice ends use); see longs.ts.
protobuf.util.Long = Long as unknown as typeof protobuf.util.Long;
protobuf.configure();

const root = protobuf.Root.fromJSON(onnxSchemaJson);
export const ModelProtoType = root.lookupType('onnx.ModelProto');
export const TensorProtoType = root.lookupType('onnx.TensorProto');
export const GraphProtoType = root.lookupType('onnx.GraphProto');
