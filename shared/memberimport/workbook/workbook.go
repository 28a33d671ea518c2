// Package workbook reads and writes XLSX workbooks for member imports and
// exports. It is apart from package memberimport because its library
// (excelize) takes milliseconds to initialise: only the function that
// serves uploads, templates and exports links it, not the import job.
package workbook

import (
	"bytes"
	"io"

	"github.com/xuri/excelize/v2"

	"workbench/shared/errs"
	"workbench/shared/memberimport"
)

// Books is memberimport.Workbooks with excelize.
type Books struct{}

var _ memberimport.Workbooks = Books{}

// Read returns the rows of the first sheet of a workbook, at most maxRows
// of them that are not blank (and the header).
func (Books) Read(data []byte, maxRows int) ([][]string, error) {
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		return nil, errs.Invalidf("file", "invalid_xlsx", "the file is not a readable XLSX workbook")
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, errs.Invalidf("file", "invalid_xlsx", "the workbook has no sheet")
	}
	rows, err := f.Rows(sheets[0])
	if err != nil {
		return nil, errs.Invalidf("file", "invalid_xlsx", "the first sheet could not be read")
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		rec, err := rows.Columns()
		if err != nil {
			return nil, errs.Invalidf("file", "invalid_xlsx", "the first sheet could not be read")
		}
		if len(out) > maxRows+1 && !memberimport.Blank(rec) {
			return nil, errs.Invalidf("file", "too_many_rows", "a file holds at most %d rows", maxRows)
		}
		out = append(out, rec)
	}
	return out, nil
}

// NewWriter streams rows into a one-sheet workbook named sheet, written to
// w on Close.
func (Books) NewWriter(w io.Writer, sheet string) (memberimport.RowWriter, error) {
	f := excelize.NewFile()
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return nil, errs.Wrap(err, "name sheet")
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return nil, errs.Wrap(err, "stream sheet")
	}
	return &writer{w: w, f: f, sw: sw}, nil
}

type writer struct {
	w  io.Writer
	f  *excelize.File
	sw *excelize.StreamWriter
	n  int
}

func (x *writer) Row(cells []string) error {
	x.n++
	vals := make([]any, len(cells))
	for i, c := range cells {
		// Text cells: a mobile must not turn into a number.
		vals[i] = excelize.Cell{Value: c}
	}
	cell, _ := excelize.CoordinatesToCellName(1, x.n)
	return x.sw.SetRow(cell, vals)
}

func (x *writer) Close() error {
	defer x.f.Close()
	if err := x.sw.Flush(); err != nil {
		return errs.Wrap(err, "flush sheet")
	}
	_, err := x.f.WriteTo(x.w)
	return err
}
