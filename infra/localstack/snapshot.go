package localstack

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/moto"
	"workbench/shared/dynamo"
)

// Snapshot writes every item of every table to dir/<LogicalId>.json, in
// DynamoDB JSON ({"Items":[{"pk":{"S":"..."}}, ...]}, one item a line).
// Files are named by logical id, not physical name, so a snapshot restores
// into a stack of any prefix. Each file is replaced atomically. A table
// that moto's launcher says has not been written to since the last
// snapshot keeps its file: a plant's directory is not rewritten because a
// message was sent.
func (s *Stack) Snapshot(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("localstack: snapshot: %w", err)
	}
	versions, err := moto.TableVersions(ctx, s.cfg.Endpoint)
	if err != nil {
		return fmt.Errorf("localstack: snapshot: %w", err)
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	for _, t := range s.cfg.Template.Tables {
		name := s.Name(t.LogicalID)
		file := filepath.Join(dir, t.LogicalID+".json")
		if saved, ok := s.saved[file]; ok && versions != nil && versions[name] == saved {
			continue
		}
		version, items, err := s.items(ctx, name)
		if err != nil {
			return fmt.Errorf("localstack: snapshot %s: %w", t.LogicalID, err)
		}
		var buf bytes.Buffer
		buf.WriteString(`{"Items":[`)
		for i, item := range items {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteByte('\n')
			b, err := json.Marshal(item)
			if err != nil {
				return fmt.Errorf("localstack: snapshot %s: %w", t.LogicalID, err)
			}
			buf.Write(b)
		}
		buf.WriteString("\n]}\n")
		if err := writeFileAtomic(file, buf.Bytes()); err != nil {
			return fmt.Errorf("localstack: snapshot %s: %w", t.LogicalID, err)
		}
		if s.saved == nil {
			s.saved = map[string]int64{}
		}
		s.saved[file] = version
	}
	return nil
}

// items reads every item of a table in DynamoDB JSON: in one request from
// moto's launcher, or by Scan from a server it did not start.
func (s *Stack) items(ctx context.Context, table string) (int64, []any, error) {
	version, dumped, err := moto.TableItems(ctx, s.cfg.Endpoint, table)
	if err == nil {
		items := make([]any, len(dumped))
		for i, it := range dumped {
			items[i] = it
		}
		return version, items, nil
	}
	if !errors.Is(err, moto.ErrNoDump) {
		return 0, nil, err
	}
	scanned, err := s.scan(ctx, table)
	items := make([]any, len(scanned))
	for i, it := range scanned {
		items[i] = encodeItem(it)
	}
	return 0, items, err
}

// Restore loads the items of a snapshot into the tables, overwriting items
// of the same key. Tables without a file are left alone.
func (s *Stack) Restore(ctx context.Context, dir string) error {
	for _, t := range s.cfg.Template.Tables {
		data, err := os.ReadFile(filepath.Join(dir, t.LogicalID+".json"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("localstack: restore %s: %w", t.LogicalID, err)
		}
		var file struct{ Items []map[string]json.RawMessage }
		if err := json.Unmarshal(data, &file); err != nil {
			return fmt.Errorf("localstack: restore %s: %w", t.LogicalID, err)
		}
		items := make([]map[string]types.AttributeValue, len(file.Items))
		for i, raw := range file.Items {
			if items[i], err = decodeItem(raw); err != nil {
				return fmt.Errorf("localstack: restore %s: item %d: %w", t.LogicalID, i, err)
			}
		}
		if err := s.batchPut(ctx, s.Name(t.LogicalID), items); err != nil {
			return fmt.Errorf("localstack: restore %s: %w", t.LogicalID, err)
		}
	}
	return nil
}

func (s *Stack) scan(ctx context.Context, table string) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{TableName: aws.String(table)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		items = append(items, page.Items...)
	}
	return items, nil
}

// batchPut writes items in batches DynamoDB accepts (moto accepts more;
// DynamoDB would not), resending what comes back unprocessed.
func (s *Stack) batchPut(ctx context.Context, table string, items []map[string]types.AttributeValue) error {
	reqs := make([]types.WriteRequest, len(items))
	for i, item := range items {
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
	}
	return dynamo.BatchWrite(ctx, s.db, map[string][]types.WriteRequest{table: reqs})
}

// writeFileAtomic replaces name with data so that a reader (or a crash)
// sees the old file or the new one, never half of one.
func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename, a no-op
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

// encodeItem converts an item to DynamoDB JSON.
func encodeItem(item map[string]types.AttributeValue) map[string]any {
	m := make(map[string]any, len(item))
	for k, v := range item {
		m[k] = encodeValue(v)
	}
	return m
}

func encodeValue(v types.AttributeValue) map[string]any {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *types.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *types.AttributeValueMemberB:
		return map[string]any{"B": base64.StdEncoding.EncodeToString(v.Value)}
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": true}
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}
	case *types.AttributeValueMemberNS:
		return map[string]any{"NS": v.Value}
	case *types.AttributeValueMemberBS:
		bs := make([]string, len(v.Value))
		for i, b := range v.Value {
			bs[i] = base64.StdEncoding.EncodeToString(b)
		}
		return map[string]any{"BS": bs}
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = encodeValue(e)
		}
		return map[string]any{"L": l}
	case *types.AttributeValueMemberM:
		return map[string]any{"M": encodeItem(v.Value)}
	}
	// An attribute type newer than this code: keep the item loadable.
	return map[string]any{"NULL": true}
}

// decodeItem converts an item from DynamoDB JSON.
func decodeItem(raw map[string]json.RawMessage) (map[string]types.AttributeValue, error) {
	item := make(map[string]types.AttributeValue, len(raw))
	for k, r := range raw {
		v, err := decodeValue(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		item[k] = v
	}
	return item, nil
}

func decodeValue(raw json.RawMessage) (types.AttributeValue, error) {
	var tagged map[string]json.RawMessage
	if err := json.Unmarshal(raw, &tagged); err != nil || len(tagged) != 1 {
		return nil, fmt.Errorf("not a DynamoDB JSON value: %.100s", raw)
	}
	var typ string
	var r json.RawMessage
	for typ, r = range tagged {
	}
	switch typ {
	case "S", "N", "B":
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			return nil, err
		}
		switch typ {
		case "S":
			return &types.AttributeValueMemberS{Value: s}, nil
		case "N":
			return &types.AttributeValueMemberN{Value: s}, nil
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberB{Value: b}, nil
	case "BOOL":
		var b bool
		if err := json.Unmarshal(r, &b); err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberBOOL{Value: b}, nil
	case "NULL":
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case "SS", "NS", "BS":
		var ss []string
		if err := json.Unmarshal(r, &ss); err != nil {
			return nil, err
		}
		switch typ {
		case "SS":
			return &types.AttributeValueMemberSS{Value: ss}, nil
		case "NS":
			return &types.AttributeValueMemberNS{Value: ss}, nil
		}
		bs := make([][]byte, len(ss))
		for i, s := range ss {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, err
			}
			bs[i] = b
		}
		return &types.AttributeValueMemberBS{Value: bs}, nil
	case "L":
		var rs []json.RawMessage
		if err := json.Unmarshal(r, &rs); err != nil {
			return nil, err
		}
		l := make([]types.AttributeValue, len(rs))
		for i, e := range rs {
			v, err := decodeValue(e)
			if err != nil {
				return nil, err
			}
			l[i] = v
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case "M":
		var m map[string]json.RawMessage
		if err := json.Unmarshal(r, &m); err != nil {
			return nil, err
		}
		item, err := decodeItem(m)
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberM{Value: item}, nil
	}
	return nil, fmt.Errorf("unknown DynamoDB type %q", typ)
}
