// eval.js measures an ONNX image classifier's accuracy in ONNX Runtime on
// an IDX test set (the MNIST layout), applying the input preprocessing the
// model's metadata states: what `compressq export` writes, checked by the
// runtime people deploy to rather than by compressq.
//
// Usage: node eval.js MODEL.onnx DATA_DIR [--threads N]
//
// DATA_DIR holds single-channel t10k-images-idx3-ubyte[.gz] and
// t10k-labels-idx1-ubyte[.gz] (`compressq data mnist --out DIR` writes them). Pixels are scaled by the
// metadata's compressq.input.pixel_scale (default 1/255), then per channel
// (x - mean) / std from compressq.input.mean and .std (default 0 and 1).
// Prints one JSON object: images, errors, accuracy, the preprocessing used.
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const ort = require('onnxruntime-node');

function readIDX(dir, name) {
  for (const file of [name, name + '.gz']) {
    const p = path.join(dir, file);
    if (fs.existsSync(p)) {
      const raw = fs.readFileSync(p);
      return file.endsWith('.gz') ? zlib.gunzipSync(raw) : raw;
    }
  }
  throw new Error(`${dir}: neither ${name} nor ${name}.gz`);
}

function floats(meta, key, def) {
  const v = meta[key];
  return v === undefined || v === '' ? def : v.split(',').map(Number);
}

async function main() {
  const args = process.argv.slice(2);
  let threads = 1;
  const t = args.indexOf('--threads');
  if (t >= 0) {
    threads = Number(args[t + 1]);
    args.splice(t, 2);
  }
  if (args.length !== 2 || !(threads >= 1)) {
    throw new Error('usage: node eval.js MODEL.onnx DATA_DIR [--threads N]');
  }
  const [modelPath, dir] = args;
  const session = await ort.InferenceSession.create(modelPath,
    { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1 });
  const meta = {};
  // onnxruntime-node exposes custom metadata only in newer releases; read
  // the protobuf's metadata_props strings when it does not.
  const raw = fs.readFileSync(modelPath).toString('latin1');
  for (const key of ['compressq.input.pixel_scale', 'compressq.input.mean', 'compressq.input.std']) {
    const i = raw.indexOf(key);
    if (i >= 0) {
      // metadata_props entry: key string, then field 2 (0x12), length, value.
      const j = i + key.length;
      if (raw.charCodeAt(j) === 0x12) {
        const len = raw.charCodeAt(j + 1);
        if (len >= 0x80) {
          throw new Error(`metadata ${key}: value longer than 127 bytes`);
        }
        meta[key] = raw.slice(j + 2, j + 2 + len);
      }
    }
  }
  const scale = floats(meta, 'compressq.input.pixel_scale', [1 / 255])[0];
  const mean = floats(meta, 'compressq.input.mean', [0]);
  const std = floats(meta, 'compressq.input.std', [1]);

  const images = readIDX(dir, 't10k-images-idx3-ubyte');
  const labels = readIDX(dir, 't10k-labels-idx1-ubyte');
  const n = images.readUInt32BE(4), h = images.readUInt32BE(8), w = images.readUInt32BE(12);
  if (labels.readUInt32BE(4) !== n) {
    throw new Error(`${n} images but ${labels.readUInt32BE(4)} labels`);
  }
  const input = session.inputNames[0];
  const batch = 64;
  let errors = 0;
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const x = new Float32Array(m * h * w);
    for (let i = 0; i < x.length; i++) {
      x[i] = (images[16 + start * h * w + i] * scale - mean[0]) / std[0];
    }
    const out = await session.run({ [input]: new ort.Tensor('float32', x, [m, 1, h, w]) });
    const logits = out[session.outputNames[0]].data;
    const classes = logits.length / m;
    for (let i = 0; i < m; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) {
        if (logits[i * classes + c] > logits[i * classes + best]) best = c;
      }
      if (best !== labels[8 + start + i]) errors++;
    }
  }
  process.stdout.write(JSON.stringify({
    model: modelPath, images: n, errors, accuracy: (n - errors) / n,
    preprocessing: { pixel_scale: scale, mean, std }, threads,
  }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
