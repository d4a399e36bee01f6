package tasks

// TypeExport is the task type of [ExportPayload].
const TypeExport = "compress:export"

// Export forms of [ExportPayload].Form.
const (
	FormFloat     = "float"
	FormQDQ       = "qdq"
	FormQOperator = "qoperator"
)

// ExportPayload is the payload of compress:export: write a model (a model
// file, a compressed artifact or an ONNX model) as a standard ONNX model.
type ExportPayload struct {
	V int `json:"v"`
	// Model is the artifact URI of the model.
	Model string `json:"model"`
	// Format is the output format; only "onnx" (the default for "").
	Format string `json:"format,omitempty"`
	// Form is float (default), qdq or qoperator.
	Form string `json:"form,omitempty"`
	// Data, if set, is the calibration data set's URI: with it, qdq and
	// qoperator export an integer-only model calibrated on its training
	// split. qoperator needs it; qdq without it exports an artifact's
	// int8/int4 weights only.
	Data string `json:"data,omitempty"`
	// Calibration is minmax (default), percentile, mse or kl; CalibSize
	// the number of calibration images (default 1000).
	Calibration string `json:"calibration,omitempty"`
	CalibSize   int    `json:"calib_size,omitempty"`
	// Preprocess overrides the model's input transform, which the export
	// records in the ONNX metadata and calibration uses.
	Preprocess
}

// TaskType implements Payload.
func (*ExportPayload) TaskType() string { return TypeExport }

// Validate implements Payload.
func (p *ExportPayload) Validate() error {
	var v validator
	v.version(p.V)
	v.uri("model", p.Model, true)
	if p.Format != "" {
		v.oneOf("format", p.Format, "onnx")
	}
	if p.Form != "" {
		v.oneOf("form", p.Form, FormFloat, FormQDQ, FormQOperator)
	}
	v.check(p.Form != FormQOperator || p.Data != "", "data", "form qoperator needs a calibration data set")
	v.check(p.Data != "" || (p.Calibration == "" && p.CalibSize == 0), "calibration", "needs data")
	if p.Calibration != "" {
		v.oneOf("calibration", p.Calibration, "minmax", "percentile", "mse", "kl")
	}
	v.check(p.CalibSize >= 0, "calib_size", "%d must be >= 0", p.CalibSize)
	v.preprocess(p.Preprocess)
	return v.err()
}

// ExportResult is the result of compress:export.
type ExportResult struct {
	// Artifact is the URI of the ONNX model.
	Artifact string `json:"artifact"`
	// Form is the form written; Source what was exported ("float",
	// "weight-only int8", "integer-only int8", ...).
	Form   string `json:"form"`
	Source string `json:"source"`
	// Bytes is the ONNX file's size.
	Bytes int64 `json:"bytes"`
	// Warnings say what the export loses (k-means codebooks and sparse
	// storage written densely, int4 codes widened to int8).
	Warnings []string `json:"warnings,omitempty"`
}

// OutputArtifact implements Result.
func (r *ExportResult) OutputArtifact() string { return r.Artifact }
