package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Format is the layout of an import file.
type Format string

// The supported formats.
const (
	// CSV is RFC 4180 comma-separated values with a header row.
	CSV Format = "csv"
	// NDJSON is one JSON object per line, keyed by column name.
	NDJSON Format = "ndjson"
)

// ParseFormat accepts csv, ndjson or jsonl (case-insensitive).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "csv":
		return CSV, nil
	case "ndjson", "jsonl":
		return NDJSON, nil
	}
	return "", fmt.Errorf("unknown format %q (csv or ndjson)", s)
}

// DetectFormat returns the format a file name's extension implies.
func DetectFormat(name string) (Format, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return CSV, nil
	case ".ndjson", ".jsonl":
		return NDJSON, nil
	}
	return "", fmt.Errorf("cannot tell the format of %q from its extension (.csv, .ndjson, .jsonl); use --format", name)
}

// Record is one data row of an import file.
type Record struct {
	// Line is the 1-based line the row starts on.
	Line int
	// Columns are the column names, parallel to Values.
	Columns []string
	// Values are strings for CSV; for NDJSON strings, json.Number, bools,
	// []any, map[string]any or nil.
	Values []any
	// Err, when set, is what is wrong with the row (it is rejected); the
	// reader goes on with the next row.
	Err error
}

// Reader yields the rows of an import file.
type Reader interface {
	// Read returns the next row, or io.EOF at the end. Any other error is
	// fatal; a bad row comes back as a Record with Err set.
	Read() (Record, error)
	// Header returns the column names known before the first row (CSV),
	// or nil (NDJSON).
	Header() []string
}

// NewReader returns a reader of the format over r.
func NewReader(r io.Reader, f Format) (Reader, error) {
	switch f {
	case CSV:
		return newCSVReader(r)
	case NDJSON:
		return &ndjsonReader{r: bufio.NewReaderSize(r, 1<<16)}, nil
	}
	return nil, fmt.Errorf("unknown format %q", f)
}

type csvReader struct {
	r      *csv.Reader
	header []string
}

func newCSVReader(r io.Reader) (*csvReader, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty: a header row is required")
	}
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	seen := map[string]bool{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF") // Excel's byte order mark
		}
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, fmt.Errorf("header column %d has no name", i+1)
		}
		if seen[h] {
			return nil, fmt.Errorf("header names column %q twice", h)
		}
		seen[h] = true
		header[i] = h
	}
	return &csvReader{r: cr, header: header}, nil
}

func (c *csvReader) Header() []string { return c.header }

func (c *csvReader) Read() (Record, error) {
	rec, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return Record{}, io.EOF
	}
	line, _ := c.r.FieldPos(0)
	var pe *csv.ParseError
	if err != nil {
		if !errors.As(err, &pe) {
			return Record{}, err
		}
		if pe.StartLine > 0 {
			line = pe.StartLine
		}
		if errors.Is(err, csv.ErrFieldCount) {
			return Record{Line: line, Err: fmt.Errorf("has %d fields, the header has %d", len(rec), len(c.header))}, nil
		}
		return Record{Line: line, Err: fmt.Errorf("malformed CSV: %v", pe.Err)}, nil
	}
	vals := make([]any, len(rec))
	for i, v := range rec {
		vals[i] = v
	}
	return Record{Line: line, Columns: c.header, Values: vals}, nil
}

type ndjsonReader struct {
	r    *bufio.Reader
	line int
}

func (n *ndjsonReader) Header() []string { return nil }

func (n *ndjsonReader) Read() (Record, error) {
	for {
		b, err := n.r.ReadBytes('\n')
		if len(b) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return Record{}, io.EOF
			}
			return Record{}, err
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Record{}, err
		}
		n.line++
		if n.line == 1 {
			b = bytes.TrimPrefix(b, []byte("\uFEFF"))
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		// JSON decoding would turn invalid UTF-8 into U+FFFD unnoticed,
		// as encoding did for CSV cells (see mapRecord).
		if !utf8.Valid(b) {
			return Record{Line: n.line, Err: errors.New("the line is not UTF-8 text (convert the file first, e.g. iconv -f latin1 -t utf-8)")}, nil
		}
		cols, vals, perr := decodeObject(b)
		if perr != nil {
			return Record{Line: n.line, Err: perr}, nil
		}
		return Record{Line: n.line, Columns: cols, Values: vals}, nil
	}
}

// decodeObject reads one JSON object keeping its keys' order.
func decodeObject(b []byte) ([]string, []any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, nil, errors.New("not a JSON object")
	}
	var cols []string
	var vals []any
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("malformed JSON: %v", err)
		}
		key := strings.TrimSpace(tok.(string))
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, nil, fmt.Errorf("malformed JSON: %v", err)
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		cols = append(cols, key)
		vals = append(vals, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("malformed JSON: %v", err)
	}
	if dec.More() {
		return nil, nil, errors.New("more than one JSON value on the line")
	}
	return cols, vals, nil
}

// CountLines returns the number of newline-terminated lines in r, a cheap
// estimate of the number of rows for the progress bar.
func CountLines(r io.Reader) (int, error) {
	buf := make([]byte, 1<<20)
	n, last := 0, byte('\n')
	for {
		k, err := r.Read(buf)
		if k > 0 {
			n += bytes.Count(buf[:k], []byte{'\n'})
			last = buf[k-1]
		}
		if errors.Is(err, io.EOF) {
			if last != '\n' {
				n++
			}
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}
