// Package ortpeer compares compressq's runtime with ONNX Runtime on the
// same models: its benchmark (BenchmarkORTPeer, run only with
// COMPRESSQ_ORT_PEER=1) times compress/runtime plans on compressq's model
// files and ONNX Runtime (through the node harness tools/ort/bench.js) on
// their ONNX exports, interleaved in one run, and reports compressq's
// latency over ONNX Runtime's. The results are in docs/BENCHMARKS.md.
//
// The package has no code outside its tests: it exists to run a program
// (node), which nothing under compress/ may do.
package ortpeer
