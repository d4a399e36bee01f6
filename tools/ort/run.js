// run.js runs one ONNX model in ONNX Runtime (onnxruntime-node) for
// compressq's export tests.
//
// Usage: node run.js REQUEST.json
//
// The request names the model, the session's intra-op thread count and the
// input tensors, each a raw little-endian file:
//
//   {"model": "m.onnx", "intraOpNumThreads": 1,
//    "inputs": {"input": {"type": "float32", "dims": [2, 1, 28, 28], "file": "input.bin"}}}
//
// "graphOptimizationLevel" (default "all") sets the session's level;
// "disabled" runs the graph node by node as written (no QDQ fusion).
//
// Relative paths are resolved against the request's directory. Every output
// is written next to the request as <name>.bin (raw little-endian), and a
// JSON object describing them is printed on stdout:
//
//   {"outputs": {"logits": {"type": "float32", "dims": [2, 10], "file": "logits.bin"}}}
//
// Tensor types: float32, uint8, int8, int32, int64. Errors go to stderr with
// exit status 1.
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const arrays = {
  float32: Float32Array,
  uint8: Uint8Array,
  int8: Int8Array,
  int32: Int32Array,
  int64: BigInt64Array,
};

function readTensor(dir, name, spec) {
  const Arr = arrays[spec.type];
  if (!Arr) {
    throw new Error(`input ${name}: type ${spec.type} is not one of ${Object.keys(arrays).join(', ')}`);
  }
  if (!Array.isArray(spec.dims)) {
    throw new Error(`input ${name}: dims must be an array`);
  }
  const buf = fs.readFileSync(path.resolve(dir, spec.file));
  const n = spec.dims.reduce((a, b) => a * b, 1);
  if (buf.length !== n * Arr.BYTES_PER_ELEMENT) {
    throw new Error(`input ${name}: ${spec.file} has ${buf.length} bytes, dims ${JSON.stringify(spec.dims)} of ${spec.type} need ${n * Arr.BYTES_PER_ELEMENT}`);
  }
  // Copy into an aligned buffer: Buffers from readFileSync may share a pool.
  const data = new Arr(n);
  new Uint8Array(data.buffer).set(buf);
  return new ort.Tensor(spec.type, data, spec.dims);
}

async function main() {
  if (process.argv.length !== 3) {
    throw new Error('usage: node run.js REQUEST.json');
  }
  const reqPath = path.resolve(process.argv[2]);
  const dir = path.dirname(reqPath);
  const req = JSON.parse(fs.readFileSync(reqPath, 'utf8'));
  const opts = { executionProviders: ['cpu'], graphOptimizationLevel: req.graphOptimizationLevel || 'all' };
  if (req.intraOpNumThreads) {
    opts.intraOpNumThreads = req.intraOpNumThreads;
    opts.interOpNumThreads = 1;
  }
  const session = await ort.InferenceSession.create(path.resolve(dir, req.model), opts);
  const feeds = {};
  for (const [name, spec] of Object.entries(req.inputs || {})) {
    feeds[name] = readTensor(dir, name, spec);
  }
  const results = await session.run(feeds);
  const out = {};
  for (const [name, t] of Object.entries(results)) {
    if (!arrays[t.type]) {
      throw new Error(`output ${name}: type ${t.type} is not supported`);
    }
    const file = `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.bin`;
    fs.writeFileSync(path.join(dir, file), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    out[name] = { type: t.type, dims: t.dims, file };
  }
  process.stdout.write(JSON.stringify({ outputs: out }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`ort: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
