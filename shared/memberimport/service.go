package memberimport

import (
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"workbench/shared/audit"
	"workbench/shared/directory"
	"workbench/shared/errs"
	"workbench/shared/ids"
)

// Service accepts imports, reports on them and exports the directory.
type Service struct {
	Store     *Store
	Directory *directory.Service
	Trigger   Trigger
	Workbooks Workbooks // XLSX; nil refuses XLSX uploads and formats
	Now       func() time.Time
}

// Options are an import's query parameters.
type Options struct {
	Mode              string
	CreateDepartments bool
	Welcome           bool
}

// Start parses an upload and queues its job.
func (s *Service) Start(ctx context.Context, tenantID, tenantCode, adminID string, file []byte, o Options) (Job, error) {
	switch o.Mode {
	case "":
		o.Mode = ModeUpsert
	case ModeUpsert, ModeCreateOnly:
	default:
		return Job{}, errs.Invalidf("mode", "invalid_mode", "mode must be upsert or create-only")
	}
	fields, err := s.Directory.Fields(ctx, tenantID)
	if err != nil {
		return Job{}, err
	}
	sheet, err := Parse(file, fields, s.Workbooks)
	if err != nil {
		return Job{}, err
	}
	now := s.Now().UTC()
	j := Job{
		ID: ids.New(now), TenantID: tenantID, TenantCode: tenantCode, By: adminID, State: StateQueued,
		Mode: o.Mode, CreateDepartments: o.CreateDepartments, Welcome: o.Welcome,
		Columns: sheet.Columns, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.Store.Create(ctx, &j, sheet.Rows, importChange(sheet, o)); err != nil {
		return Job{}, err
	}
	slog.InfoContext(ctx, "import queued", "tenant", tenantID, "import", j.ID, "rows", j.Total, "mode", j.Mode, "by", adminID)
	if err := s.Trigger.Start(ctx, tenantID, j.ID); err != nil {
		// The job is stored: the next look at it starts it again.
		slog.WarnContext(ctx, "start import", "tenant", tenantID, "import", j.ID, "error", err)
	}
	return j, nil
}

// importChange is an import's audit entry: the member fields its columns
// write, the kind of file and how many rows, with the options; never a
// row's content.
func importChange(sheet Sheet, o Options) audit.Change {
	return audit.Change{
		Action: audit.MemberImport,
		Fields: sheet.Columns,
		Summary: map[string]string{
			"format": sheet.Format, "rows": strconv.Itoa(len(sheet.Rows)), "mode": o.Mode,
			"createDepartments": strconv.FormatBool(o.CreateDepartments), "welcomeSms": strconv.FormatBool(o.Welcome),
		},
	}
}

// Status is a job as GET /v1/admin/member-imports/{id} shows it.
type Status struct {
	Job
	Failures []Failure `json:"failures"`
}

// stale is how long a queued job waits, or a running job goes without a
// lease, before a look at it starts a run again.
const stale = time.Minute

// Status reads a job and its failures. A job left behind (its start lost,
// its run gone without handing over) is started again.
func (s *Service) Status(ctx context.Context, tenantID, id string) (Status, error) {
	j, err := s.Store.Get(ctx, tenantID, id)
	if err != nil {
		return Status{}, err
	}
	fs, err := s.Store.Failures(ctx, tenantID, id)
	if err != nil {
		return Status{}, err
	}
	now := s.Now()
	if (j.State == StateQueued && now.Sub(j.UpdatedAt) > stale) || (j.State == StateRunning && now.UnixMilli() > j.LeaseUntil && now.Sub(j.UpdatedAt) > stale) {
		slog.InfoContext(ctx, "import restarted", "tenant", tenantID, "import", id)
		if err := s.Trigger.Start(ctx, tenantID, id); err != nil {
			slog.WarnContext(ctx, "restart import", "tenant", tenantID, "import", id, "error", err)
		}
	}
	return Status{Job: j, Failures: fs}, nil
}

// WriteFailures writes a job's failures as CSV (with a BOM, so that Excel
// reads it as UTF-8).
func (s *Service) WriteFailures(ctx context.Context, w io.Writer, tenantID, id string) error {
	if _, err := s.Store.Get(ctx, tenantID, id); err != nil {
		return err
	}
	fs, err := s.Store.Failures(ctx, tenantID, id)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"row", "field", "code", "message"}); err != nil {
		return err
	}
	for _, f := range fs {
		if err := cw.Write([]string{strconv.Itoa(f.Row), f.Field, f.Code, f.Message}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Formats of the template and the export.
const (
	FormatCSV  = "csv"
	FormatXLSX = "xlsx"
)

// ContentType returns the media type of a format.
func ContentType(format string) string {
	if format == FormatXLSX {
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "text/csv; charset=utf-8"
}

// CheckFormat checks a format parameter; "" is csv.
func CheckFormat(f string) (string, error) {
	switch f {
	case "", FormatCSV:
		return FormatCSV, nil
	case FormatXLSX:
		return FormatXLSX, nil
	}
	return "", errs.Invalidf("format", "invalid_format", "format must be csv or xlsx")
}

// sheetWriter writes rows as CSV or into an XLSX sheet.
type sheetWriter struct {
	csv  *csv.Writer
	xlsx RowWriter
}

const sheetName = "成员"

func (s *Service) newSheetWriter(w io.Writer, format string) (*sheetWriter, error) {
	if format == FormatCSV {
		if _, err := io.WriteString(w, "\ufeff"); err != nil {
			return nil, err
		}
		return &sheetWriter{csv: csv.NewWriter(w)}, nil
	}
	if s.Workbooks == nil {
		return nil, errs.Invalidf("format", "invalid_format", "format must be csv here")
	}
	x, err := s.Workbooks.NewWriter(w, sheetName)
	if err != nil {
		return nil, err
	}
	return &sheetWriter{xlsx: x}, nil
}

func (sw *sheetWriter) row(cells []string) error {
	if sw.csv != nil {
		return sw.csv.Write(cells)
	}
	return sw.xlsx.Row(cells)
}

func (sw *sheetWriter) close() error {
	if sw.csv != nil {
		sw.csv.Flush()
		return sw.csv.Error()
	}
	return sw.xlsx.Close()
}

// WriteTemplate writes the import template: the header row of the tenant's
// columns.
func (s *Service) WriteTemplate(ctx context.Context, w io.Writer, tenantID, format string) error {
	fields, err := s.Directory.Fields(ctx, tenantID)
	if err != nil {
		return err
	}
	sw, err := s.newSheetWriter(w, format)
	if err != nil {
		return err
	}
	if err := sw.row(Header(fields)); err != nil {
		return err
	}
	return sw.close()
}

// exportPage is the members read (and opened) per round trip of an export:
// a Query returns at most 1 MB, about this many member items.
const exportPage = 1000

// Export writes the tenant's members in the import's columns, a page of
// members read (and opened) at a time, so an export can be edited and
// imported again. It returns the number of members written.
func (s *Service) Export(ctx context.Context, w io.Writer, tenantID, format string) (int, error) {
	fields, err := s.Directory.Fields(ctx, tenantID)
	if err != nil {
		return 0, err
	}
	depts, err := loadDepartments(ctx, s.Directory, tenantID)
	if err != nil {
		return 0, err
	}
	pathOf := map[string]string{}
	for p, ids := range depts.byPath {
		for _, id := range ids {
			pathOf[id] = p
		}
	}
	sw, err := s.newSheetWriter(w, format)
	if err != nil {
		return 0, err
	}
	if err := sw.row(Header(fields)); err != nil {
		return 0, err
	}
	n, cursor := 0, ""
	for {
		members, next, err := s.Directory.ListMembers(ctx, tenantID, "", cursor, exportPage)
		if err != nil {
			return n, err
		}
		for _, m := range members {
			if err := sw.row(exportRow(m, fields, pathOf)); err != nil {
				return n, err
			}
			n++
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	return n, sw.close()
}

func exportRow(m directory.Member, fields []directory.Field, pathOf map[string]string) []string {
	var paths []string
	for _, d := range m.DepartmentIDs {
		if p, ok := pathOf[d]; ok {
			paths = append(paths, p)
		}
	}
	role := "成员"
	if m.Role == directory.RoleAdmin {
		role = "管理员"
	}
	out := []string{m.Name, m.Mobile, m.Account, m.Email, strings.Join(paths, ";"), m.Position, m.EmployeeNo, role}
	for _, f := range fields {
		switch v := m.Fields[f.Code].(type) {
		case string:
			out = append(out, v)
		case []any:
			var parts []string
			for _, x := range v {
				if s, ok := x.(string); ok {
					parts = append(parts, s)
				}
			}
			out = append(out, strings.Join(parts, ";"))
		default:
			out = append(out, "")
		}
	}
	return out
}
