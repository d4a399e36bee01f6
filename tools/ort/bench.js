// bench.js times ONNX models in ONNX Runtime (onnxruntime-node, CPU) for
// compressq's runtime comparison: latency of one batch (p50, p99) and
// images per second, per batch size and intra-op thread count.
//
// Usage:
//
//   node bench.js MODEL.onnx [--batch 1,64] [--threads 1,2] [--time-ms 1000]
//                 [--min-runs 20] [--input FILE]
//   node bench.js --serve
//
// The first form times every --batch × --threads setting for at least
// --time-ms milliseconds and --min-runs runs each and prints one JSON
// object. The model's first input gives the per-sample shape (every axis
// after the first; a symbolic or fixed first axis is the batch — a fixed one
// must equal the batch). The input is --input, raw little-endian float32
// holding at least batch samples (the first batch samples are fed), or
// random values uniform in [0, 1) (seeded, the same on every run).
//
// --serve reads one JSON request per line on stdin and answers each with one
// JSON line on stdout, so that a caller can interleave its own timings with
// ONNX Runtime's without starting node each time. A request:
//
//   {"model": "m.onnx", "batch": 64, "threads": 2, "time_ms": 300,
//    "min_runs": 20, "input": "x.bin"}
//
// Sessions are kept per (model, threads) for the life of the process, and
// every setting's first run is a warm-up that is not timed.
//
// Sessions use the CPU execution provider, graph optimization level "all",
// sequential execution, intraOpNumThreads as asked and interOpNumThreads 1.
// Latencies are of `await session.run(feeds)`, as a node program sees it:
// they include onnxruntime-node's JavaScript wrapper (input checks, output
// tensor objects, one setImmediate turn). A result:
//
//   {"model": "m.onnx", "input_name": "input", "input_shape": [1, 28, 28],
//    "batch": 64, "threads": 2, "runs": 812, "p50_ns": 360000,
//    "p99_ns": 420000, "mean_ns": 365000, "images_per_sec": 175000,
//    "session_ms": 12.5}
//
// Errors go to stderr with exit status 1 (in --serve mode an error answers
// the request as {"error": "..."} and the process goes on).
'use strict';

const fs = require('fs');
const readline = require('readline');
const ort = require('onnxruntime-node');

const sessions = new Map();

// session returns the cached session of model at threads intra-op threads
// and how long creating it took (0 when cached).
async function session(model, threads) {
  const key = `${threads}\0${model}`;
  if (sessions.has(key)) {
    return { s: sessions.get(key), ms: 0 };
  }
  const t0 = process.hrtime.bigint();
  const s = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    logSeverityLevel: 3, // errors only: no notes about unused initializers mid-run
  });
  sessions.set(key, s);
  return { s, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

// inputShape returns the input's name and per-sample shape, checking that
// its first axis can take batch.
function inputShape(s, batch) {
  const meta = s.inputMetadata[0];
  if (!meta || !meta.isTensor || meta.type !== 'float32') {
    throw new Error(`model input ${meta && meta.name}: want one float32 tensor, have ${JSON.stringify(meta)}`);
  }
  const [first, ...rest] = meta.shape;
  if (typeof first === 'number' && first !== batch) {
    throw new Error(`model input ${meta.name}: fixed batch ${first}, asked for batch ${batch}`);
  }
  for (const d of rest) {
    if (typeof d !== 'number') {
      throw new Error(`model input ${meta.name}: symbolic axis ${d} after the batch axis`);
    }
  }
  return { name: meta.name, shape: rest };
}

// randomData returns n values uniform in [0, 1) from a fixed seed.
function randomData(n) {
  let x = 0x9e3779b9;
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    v[i] = x / 4294967296;
  }
  return v;
}

// inputData returns batch samples of per values: the head of file, or random.
function inputData(file, per, batch) {
  const n = per * batch;
  if (!file) {
    return randomData(n);
  }
  const buf = fs.readFileSync(file);
  if (buf.length < 4 * n) {
    throw new Error(`input ${file}: ${buf.length} bytes, batch ${batch} of ${per} float32 values needs ${4 * n}`);
  }
  // Copy into an aligned buffer: Buffers from readFileSync may share a pool.
  const v = new Float32Array(n);
  new Uint8Array(v.buffer).set(buf.subarray(0, 4 * n));
  return v;
}

// time runs one setting: a warm-up run, then runs until both minRuns runs
// and timeMs milliseconds are done.
async function time(req) {
  const { model, batch, threads } = req;
  if (!(Number.isInteger(batch) && batch >= 1) || !(Number.isInteger(threads) && threads >= 1)) {
    throw new Error(`batch ${batch}, threads ${threads}: both must be integers ≥ 1`);
  }
  const timeMs = req.time_ms === undefined ? 1000 : req.time_ms;
  const minRuns = req.min_runs === undefined ? 20 : req.min_runs;
  const { s, ms } = await session(model, threads);
  const { name, shape } = inputShape(s, batch);
  const per = shape.reduce((a, b) => a * b, 1);
  const feeds = { [name]: new ort.Tensor('float32', inputData(req.input, per, batch), [batch, ...shape]) };
  await s.run(feeds); // warm-up
  const lat = [];
  let total = 0n;
  const budget = BigInt(Math.round(timeMs * 1e6));
  while (lat.length < minRuns || total < budget) {
    const t0 = process.hrtime.bigint();
    await s.run(feeds);
    const d = process.hrtime.bigint() - t0;
    lat.push(Number(d));
    total += d;
  }
  lat.sort((a, b) => a - b);
  const pct = (q) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))];
  const mean = Number(total) / lat.length;
  return {
    model, input_name: name, input_shape: shape, batch, threads, runs: lat.length,
    p50_ns: pct(0.5), p99_ns: pct(0.99), mean_ns: Math.round(mean),
    images_per_sec: (batch * lat.length) / (Number(total) / 1e9), session_ms: ms,
  };
}

function ints(flag, s) {
  const v = s.split(',').map(Number);
  if (v.some((x) => !(Number.isInteger(x) && x >= 1))) {
    throw new Error(`${flag} ${s}: want comma-separated integers ≥ 1`);
  }
  return v;
}

async function cli(args) {
  const o = { batch: [1], threads: [1], time_ms: 1000, min_runs: 20 };
  let model;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const val = () => {
      if (i + 1 >= args.length) throw new Error(`${a}: missing value`);
      return args[++i];
    };
    switch (a) {
      case '--batch': o.batch = ints(a, val()); break;
      case '--threads': o.threads = ints(a, val()); break;
      case '--time-ms': o.time_ms = Number(val()); break;
      case '--min-runs': o.min_runs = Number(val()); break;
      case '--input': o.input = val(); break;
      default:
        if (a.startsWith('-') || model !== undefined) throw new Error(`unknown argument ${a}`);
        model = a;
    }
  }
  if (model === undefined) {
    throw new Error('usage: node bench.js MODEL.onnx [--batch 1,64] [--threads 1,2] [--time-ms 1000] [--min-runs 20] [--input FILE] | node bench.js --serve');
  }
  const results = [];
  for (const batch of o.batch) {
    for (const threads of o.threads) {
      results.push(await time({ model, batch, threads, time_ms: o.time_ms, min_runs: o.min_runs, input: o.input }));
    }
  }
  process.stdout.write(JSON.stringify({ model, runtime: 'onnxruntime-node', version: ort.env.versions.common, results }) + '\n');
}

async function serve() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.trim() === '') continue;
    let out;
    try {
      out = await time(JSON.parse(line));
    } catch (e) {
      out = { error: e && e.message ? e.message : String(e) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
}

const args = process.argv.slice(2);
(args.length === 1 && args[0] === '--serve' ? serve() : cli(args)).catch((e) => {
  process.stderr.write(`bench: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
