package nas

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// csvHeader is the column order of WriteCSV; ReadTable reads files with
// these columns (in any order, extra columns ignored).
var csvHeader = []string{"id", "hash", "epochs", "status", "attempts", "conv", "dense", "activation",
	"sparsity", "weight_bits", "kmeans_bits", "params", "bytes", "accuracy", "latency_fp32", "latency_int8", "error", "values", "macs", "violation", "artifact", "test_images"}

// WriteCSV writes one row per record with the columns id, hash, epochs,
// status, attempts, conv (channels×kernel per block, "-" separated), dense
// (widths, "-" separated), activation, sparsity, weight_bits, kmeans_bits,
// params, bytes, accuracy, latency_fp32, latency_int8 (seconds), error
// (the last failure) and values (a typed space's point as JSON, keys
// sorted; empty in the built-in space; a policy's per-layer values), macs
// violation, artifact and test_images (Objectives.MACs, Violation, a
// policy trial's compressed model and the size of the test subset a lower
// rung was scored on, 0 for the whole set). Objective columns are empty
// for records without objectives.
func WriteCSV(w io.Writer, records []Record) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, r := range records {
		c := r.Trial.Candidate
		var conv, dense []string
		for _, g := range c.Genome.Conv {
			conv = append(conv, fmt.Sprintf("%dx%d", g.Channels, g.Kernel))
		}
		for _, d := range c.Genome.Dense {
			dense = append(dense, strconv.Itoa(d))
		}
		row := []string{r.Trial.ID, c.Hash, strconv.Itoa(r.Trial.Epochs), r.Status, strconv.Itoa(r.Trial.Attempt),
			strings.Join(conv, "-"), strings.Join(dense, "-"), c.Genome.Activation, f(c.Genome.Compression.Sparsity),
			strconv.Itoa(c.Genome.Compression.WeightBits), strconv.Itoa(c.Genome.Compression.KMeansBits),
			"", "", "", "", "", "", "", "", "", "", ""}
		if o := r.Objectives; o != nil {
			row[11], row[12], row[13], row[14], row[15] = strconv.Itoa(o.Params), strconv.Itoa(o.Bytes), f(o.Accuracy), f(o.LatencyFP32), f(o.LatencyInt8)
			row[18], row[19], row[20], row[21] = strconv.FormatInt(o.MACs, 10), f(o.Violation), o.Artifact, strconv.Itoa(o.TestImages)
		}
		if len(r.Errors) > 0 {
			row[16] = r.Errors[len(r.Errors)-1]
		}
		if c.Values != nil {
			row[17] = string(c.Values.encode())
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes records as an indented JSON array.
func WriteJSON(w io.Writer, records []Record) error {
	if records == nil {
		records = []Record{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(records)
}

// ErrNotInTable is returned by Table.Evaluate for a trial without a row.
var ErrNotInTable = errors.New("nas: trial not in table")

// Table is an evaluator that looks trials up in precomputed results, for
// exercising a sweep's control plane at scale without training. Rows are
// keyed by genome hash and epochs; a row with epochs 0 matches any epochs
// of its hash not listed otherwise.
type Table struct {
	rows map[string]Objectives
	errs map[string]string
}

// ReadTable reads a CSV with a header row naming at least the columns hash
// and accuracy, and optionally epochs, params, bytes, latency_fp32,
// latency_int8, status and error (the layout WriteCSV writes). Rows whose
// status is not "done" and that carry an error make Evaluate fail with that
// error; other rows without accuracy are skipped.
func ReadTable(r io.Reader) (*Table, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read table: %w", err)
	}
	if len(rows) == 0 {
		return nil, errors.New("read table: no header")
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[strings.TrimSpace(name)] = i
	}
	for _, need := range []string{"hash", "accuracy"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("read table: no %q column", need)
		}
	}
	t := &Table{rows: map[string]Objectives{}, errs: map[string]string{}}
	get := func(row []string, name string) string {
		if i, ok := col[name]; ok && i < len(row) {
			return strings.TrimSpace(row[i])
		}
		return ""
	}
	for n, row := range rows[1:] {
		line := n + 2
		num := func(name string) (float64, error) {
			s := get(row, name)
			if s == "" {
				return 0, nil
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return 0, fmt.Errorf("read table: line %d column %s: %w", line, name, err)
			}
			return v, nil
		}
		var vals [9]float64
		for i, name := range []string{"epochs", "accuracy", "params", "bytes", "latency_fp32", "latency_int8", "macs", "violation", "test_images"} {
			if vals[i], err = num(name); err != nil {
				return nil, err
			}
		}
		k := key(get(row, "hash"), int(vals[0]))
		if st := get(row, "status"); st != "" && st != StatusDone {
			if e := get(row, "error"); e != "" {
				t.errs[k] = e
			}
			continue
		}
		if get(row, "accuracy") == "" {
			continue
		}
		t.rows[k] = Objectives{Accuracy: vals[1], Params: int(vals[2]), Bytes: int(vals[3]), LatencyFP32: vals[4], LatencyInt8: vals[5],
			MACs: int64(vals[6]), Violation: vals[7], Artifact: get(row, "artifact"), TestImages: int(vals[8])}
	}
	return t, nil
}

// Len returns the number of result rows.
func (t *Table) Len() int { return len(t.rows) }

// Evaluate implements Evaluator.
func (t *Table) Evaluate(ctx context.Context, tr Trial) (Objectives, error) {
	if err := ctx.Err(); err != nil {
		return Objectives{}, err
	}
	for _, k := range []string{key(tr.Candidate.Hash, tr.Epochs), key(tr.Candidate.Hash, 0)} {
		if o, ok := t.rows[k]; ok {
			return o, nil
		}
		if e, ok := t.errs[k]; ok {
			return Objectives{}, fmt.Errorf("trial %s: recorded failure: %s", tr.ID, e)
		}
	}
	return Objectives{}, fmt.Errorf("trial %s (genome %s, %d epochs): %w", tr.ID, tr.Candidate.Hash, tr.Epochs, ErrNotInTable)
}
