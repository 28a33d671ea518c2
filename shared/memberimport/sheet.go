// Package memberimport adds members to a tenant's directory from a CSV or
// XLSX file, as a job that runs apart from the request, resumes from its
// cursor and never imports a row twice, and exports the directory in the
// same columns. Each row goes through the directory's own create and update
// paths (directory.Service), so an imported member is checked and written
// exactly as POST /v1/admin/members would do it.
package memberimport

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"workbench/shared/directory"
	"workbench/shared/errs"
)

// Limits of an uploaded file.
const (
	MaxRows     = 10000
	MaxColumns  = 64
	MaxCellRune = 1000
	// MaxFileBytes keeps an upload inside a synchronous Lambda request
	// (6 MB, a binary body base64-encoded by API Gateway).
	MaxFileBytes = 4 << 20
)

// Column keys besides the custom fields ("fields.<code>"): the member API's
// field names, in the order of the template.
var memberColumns = []struct{ key, label string }{
	{"name", "姓名"}, {"mobile", "手机号"}, {"account", "账号"}, {"email", "邮箱"},
	{"departments", "部门"}, {"position", "职位"}, {"employeeNo", "工号"}, {"role", "角色"},
}

const fieldPrefix = "fields."

// Sheet is a parsed upload: the key of each column and the non-blank data
// rows.
type Sheet struct {
	Format  string // FormatCSV or FormatXLSX
	Columns []string
	Rows    []Row
}

// Row is one data row: N is its 1-based number below the header (blank
// rows keep their numbers), Cells follow Sheet.Columns.
type Row struct {
	N     int      `json:"n"`
	Cells []string `json:"c"`
}

// Parse reads an upload, CSV (UTF-8, with or without BOM) or XLSX (told
// apart by content: an XLSX file is a zip archive), and maps its header to
// column keys with the tenant's custom fields.
func Parse(data []byte, fields []directory.Field, books Workbooks) (Sheet, error) {
	var records [][]string
	var err error
	format := FormatCSV
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		if books == nil {
			return Sheet{}, errs.Invalidf("file", "invalid_xlsx", "XLSX files are not read here")
		}
		format = FormatXLSX
		records, err = books.Read(data, MaxRows)
	} else {
		records, err = readCSV(data)
	}
	if err != nil {
		return Sheet{}, err
	}
	if len(records) == 0 {
		return Sheet{}, errs.Invalidf("file", "empty_file", "the file has no header row")
	}
	cols, err := header(records[0], fields)
	if err != nil {
		return Sheet{}, err
	}
	sh := Sheet{Format: format, Columns: cols}
	for i, rec := range records[1:] {
		if blank(rec) {
			continue
		}
		if len(sh.Rows) == MaxRows {
			return Sheet{}, errs.Invalidf("file", "too_many_rows", "a file holds at most %d rows", MaxRows)
		}
		if len(rec) > len(cols) && !blank(rec[len(cols):]) {
			return Sheet{}, errs.Invalidf("file", "extra_cells", "row %d has more cells than the header names", i+1)
		}
		cells := make([]string, len(cols))
		for j := range cols {
			if j < len(rec) {
				cells[j] = strings.TrimSpace(rec[j])
			}
			if utf8.RuneCountInString(cells[j]) > MaxCellRune {
				return Sheet{}, errs.Invalidf("file", "cell_too_long", "row %d, column %d is longer than %d characters", i+1, j+1, MaxCellRune)
			}
		}
		sh.Rows = append(sh.Rows, Row{N: i + 1, Cells: cells})
	}
	if len(sh.Rows) == 0 {
		return Sheet{}, errs.Invalidf("file", "no_rows", "the file has a header but no data rows")
	}
	return sh, nil
}

// Workbooks reads and writes XLSX workbooks (package workbook): the upload
// and export function wires it, the job function, which reads rows already
// parsed, does without its library.
type Workbooks interface {
	// Read returns the rows of the first sheet, refusing a sheet of more
	// than maxRows rows that are not blank.
	Read(data []byte, maxRows int) ([][]string, error)
	// NewWriter streams rows into a one-sheet workbook, written on Close.
	NewWriter(w io.Writer, sheet string) (RowWriter, error)
}

// RowWriter writes rows of cells.
type RowWriter interface {
	Row(cells []string) error
	Close() error
}

// Blank reports whether a row holds only empty or blank cells.
func Blank(rec []string) bool { return blank(rec) }

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

func readCSV(data []byte) ([][]string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, errs.Invalidf("file", "invalid_encoding", "a CSV file must be UTF-8 (save it as \"CSV UTF-8\")")
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	var out [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, errs.Invalidf("file", "invalid_csv", "the CSV is malformed at line %d: %v", pe.Line, pe.Err)
			}
			return nil, errs.Invalidf("file", "invalid_csv", "the CSV could not be read")
		}
		if len(out) > MaxRows+1 && !blank(rec) {
			return nil, errs.Invalidf("file", "too_many_rows", "a file holds at most %d rows", MaxRows)
		}
		out = append(out, rec)
	}
}

// header maps column titles to keys: a member field's API name (any case)
// or Chinese label, or a custom field's name or code.
func header(titles []string, fields []directory.Field) ([]string, error) {
	for len(titles) > 0 && strings.TrimSpace(titles[len(titles)-1]) == "" {
		titles = titles[:len(titles)-1]
	}
	if len(titles) > MaxColumns {
		return nil, errs.Invalidf("file", "too_many_columns", "a file has at most %d columns", MaxColumns)
	}
	byTitle := map[string]string{}
	for _, c := range memberColumns {
		byTitle[strings.ToLower(c.key)] = c.key
		byTitle[c.label] = c.key
	}
	for _, f := range fields {
		byTitle[f.Name] = fieldPrefix + f.Code
		if _, ok := byTitle[strings.ToLower(f.Code)]; !ok {
			byTitle[strings.ToLower(f.Code)] = fieldPrefix + f.Code
		}
	}
	keys := make([]string, len(titles))
	seen := map[string]bool{}
	for i, t := range titles {
		t = strings.TrimSpace(strings.TrimPrefix(t, "\ufeff"))
		k, ok := byTitle[t]
		if !ok {
			k, ok = byTitle[strings.ToLower(t)]
		}
		if !ok {
			return nil, errs.Invalidf("file", "unknown_column", "column %d (%q) is neither a member field nor a custom field of the tenant", i+1, t)
		}
		if seen[k] {
			return nil, errs.Invalidf("file", "duplicate_column", "column %d (%q) repeats another column", i+1, t)
		}
		seen[k] = true
		keys[i] = k
	}
	for _, need := range []string{"name", "mobile"} {
		if !seen[need] {
			return nil, errs.Invalidf("file", "missing_column", "the header needs a %q column", need)
		}
	}
	return keys, nil
}

// Header returns the column titles of the template and the export: the
// member fields' Chinese labels, then the custom fields' names.
func Header(fields []directory.Field) []string {
	out := make([]string, 0, len(memberColumns)+len(fields))
	for _, c := range memberColumns {
		out = append(out, c.label)
	}
	for _, f := range fields {
		out = append(out, f.Name)
	}
	return out
}
