package memberimport

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/keyring"
)

// Job states.
const (
	StateQueued  = "queued"
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed"
)

// Modes: matched rows update their member, or are skipped.
const (
	ModeUpsert     = "upsert"
	ModeCreateOnly = "create-only"
)

// Job is an import: its options, its progress (the cursor Processed and
// the counters, which only ever move together) and who runs it now.
type Job struct {
	ID                string    `json:"id" dynamodbav:"id"`
	TenantID          string    `json:"-" dynamodbav:"tenantId"`
	TenantCode        string    `json:"-" dynamodbav:"tenantCode"`
	By                string    `json:"-" dynamodbav:"by"`
	State             string    `json:"state" dynamodbav:"state"`
	Mode              string    `json:"mode" dynamodbav:"mode"`
	CreateDepartments bool      `json:"createDepartments" dynamodbav:"createDepartments"`
	Welcome           bool      `json:"welcomeSms" dynamodbav:"welcome"`
	Columns           []string  `json:"-" dynamodbav:"columns"`
	Chunks            []int     `json:"-" dynamodbav:"chunks"` // index of each chunk's first row
	Total             int       `json:"total" dynamodbav:"total"`
	Processed         int       `json:"processed" dynamodbav:"processed"`
	Created           int       `json:"created" dynamodbav:"created"`
	Updated           int       `json:"updated" dynamodbav:"updated"`
	Skipped           int       `json:"skipped" dynamodbav:"skipped"`
	Failed            int       `json:"failed" dynamodbav:"failed"`
	Error             string    `json:"error,omitempty" dynamodbav:"error,omitempty"`
	Runs              int       `json:"-" dynamodbav:"runs"`
	LeaseOwner        string    `json:"-" dynamodbav:"leaseOwner,omitempty"`
	LeaseUntil        int64     `json:"-" dynamodbav:"leaseUntil"` // unix ms
	CreatedAt         time.Time `json:"createdAt" dynamodbav:"createdAt"`
	UpdatedAt         time.Time `json:"updatedAt" dynamodbav:"updatedAt"`
	TTL               int64     `json:"-" dynamodbav:"ttl"`
}

// Failure is a row that was not imported and why: Code and Field are what
// POST /v1/admin/members answers for the same member.
type Failure struct {
	Row     int    `json:"row" dynamodbav:"row"`
	Field   string `json:"field,omitempty" dynamodbav:"field,omitempty"`
	Code    string `json:"code" dynamodbav:"code"`
	Message string `json:"message" dynamodbav:"message"`
}

// Progress is what a step of a run adds to the job: the cursor moves from
// From to To and the counters grow by the rest.
type Progress struct {
	From, To                          int
	Created, Updated, Skipped, Failed int
}

// Keys of the imports table: everything of a tenant's job under the
// tenant's partition.
func tenantPK(tenantID string) string     { return "T#" + tenantID }
func jobSK(id string) string              { return "JOB#" + id }
func chunkSK(id string, i int) string     { return fmt.Sprintf("JOB#%s#ROWS#%05d", id, i) }
func failureSK(id string, row int) string { return fmt.Sprintf("JOB#%s#FAIL#%06d", id, row) }
func failurePrefix(id string) string      { return "JOB#" + id + "#FAIL#" }
func chunkAAD(tenantID, id string, i int) string {
	return "import|" + tenantID + "|" + id + "|" + strconv.Itoa(i)
}

// Retention of a job and its rows (TTL).
const Retention = 30 * 24 * time.Hour

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store keeps jobs, their rows (sealed: they hold names and mobiles) and
// their failures in the imports table.
type Store struct {
	DB    DB
	Table string
	Keys  *keyring.Keyring
	Audit *audit.Log // an admin's import is audited with its job (nil: not)
}

func avs(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func avn(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func (st *Store) key(tenantID, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": avs(tenantPK(tenantID)), "sk": avs(sk)}
}

// chunkBytes bounds the rows of one item before sealing (sealed and
// base64-encoded it stays well under DynamoDB's 400 KB).
const chunkBytes = 200 << 10

// Create stores a new job with its rows: the rows first, then the job with
// the admin's change in the audit log, in one transaction, so a job that
// can be read has all its rows and its audit entry.
func (st *Store) Create(ctx context.Context, j *Job, rows []Row, change audit.Change) error {
	var chunks [][]Row
	size := 0
	for i, r := range rows {
		n := 16
		for _, c := range r.Cells {
			n += len(c) + 4
		}
		if len(chunks) == 0 || size+n > chunkBytes {
			chunks = append(chunks, nil)
			j.Chunks = append(j.Chunks, i)
			size = 0
		}
		chunks[len(chunks)-1] = append(chunks[len(chunks)-1], r)
		size += n
	}
	j.Total = len(rows)
	j.TTL = j.CreatedAt.Add(Retention).Unix()
	var items []map[string]types.AttributeValue
	for i, c := range chunks {
		raw, err := json.Marshal(c)
		if err != nil {
			return errs.Wrap(err, "encode rows")
		}
		it := st.key(j.TenantID, chunkSK(j.ID, i))
		it["rows"] = avs(st.Keys.Seal(string(raw), chunkAAD(j.TenantID, j.ID, i)))
		it["ttl"] = avn(j.TTL)
		items = append(items, it)
	}
	if err := st.batchPut(ctx, items); err != nil {
		return err
	}
	item, err := st.jobItem(*j)
	if err != nil {
		return err
	}
	put := &types.Put{TableName: aws.String(st.Table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}
	change.Target = "member_import/" + j.ID
	err = st.Audit.Write(ctx, st.DB, j.TenantID, change, types.TransactWriteItem{Put: put})
	if dynamo.FailedCondition(err, 0) {
		// The id is new (time and 80 random bits): the item that is there
		// is this put's own, committed by an attempt whose answer the SDK
		// did not get before it retried.
		return nil
	}
	return errs.Wrap(err, "put import job")
}

func (st *Store) jobItem(j Job) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(j)
	if err != nil {
		return nil, errs.Wrap(err, "encode import job")
	}
	item["pk"], item["sk"] = avs(tenantPK(j.TenantID)), avs(jobSK(j.ID))
	return item, nil
}

// batchPut writes items with the one bounded batch helper (25 a call,
// unprocessed items retried).
func (st *Store) batchPut(ctx context.Context, items []map[string]types.AttributeValue) error {
	if len(items) == 0 {
		return nil
	}
	reqs := make([]types.WriteRequest, 0, len(items))
	for _, it := range items {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
	}
	return errs.Wrap(dynamo.BatchWrite(ctx, st.DB, map[string][]types.WriteRequest{st.Table: reqs}), "write import items")
}

var errJobNotFound = errs.NotFoundf("import_not_found", "no import with this id in the tenant")

// Get reads a job.
func (st *Store) Get(ctx context.Context, tenantID, id string) (Job, error) {
	if id == "" || len(id) > 64 {
		return Job{}, errJobNotFound
	}
	out, err := st.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Table), Key: st.key(tenantID, jobSK(id)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Job{}, errs.Wrap(err, "get import job")
	}
	if out.Item == nil {
		return Job{}, errJobNotFound
	}
	var j Job
	if err := attributevalue.UnmarshalMap(out.Item, &j); err != nil {
		return Job{}, errs.Wrap(err, "decode import job")
	}
	return j, nil
}

// Chunk reads and opens chunk i of a job's rows.
func (st *Store) Chunk(ctx context.Context, j Job, i int) ([]Row, error) {
	out, err := st.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Table), Key: st.key(j.TenantID, chunkSK(j.ID, i)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, errs.Wrap(err, "get import rows")
	}
	var rec struct {
		Rows string `dynamodbav:"rows"`
	}
	if out.Item == nil {
		return nil, fmt.Errorf("memberimport: job %s has no chunk %d", j.ID, i)
	}
	if err := attributevalue.UnmarshalMap(out.Item, &rec); err != nil {
		return nil, errs.Wrap(err, "decode import rows")
	}
	raw, err := st.Keys.Open(rec.Rows, chunkAAD(j.TenantID, j.ID, i))
	if err != nil {
		return nil, errs.Wrap(err, "open import rows")
	}
	var rows []Row
	if err := json.Unmarshal([]byte(raw), &rows); err != nil {
		return nil, errs.Wrap(err, "decode import rows")
	}
	return rows, nil
}

// errLeaseLost stops a run whose job another run has taken over (or that
// is no longer where this run left it).
var errLeaseLost = errs.E(errs.Conflict, "import_lease_lost", "another run holds this import")

// Claim makes owner the job's runner until until, if the job is not done
// and no other runner's lease is current. It returns the job as claimed.
func (st *Store) Claim(ctx context.Context, tenantID, id, owner string, now, until time.Time) (Job, error) {
	out, err := st.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.Table), Key: st.key(tenantID, jobSK(id)),
		UpdateExpression:         aws.String("SET #lo = :me, #lu = :until, #s = :running, #ua = :now ADD #r :one"),
		ConditionExpression:      aws.String("attribute_exists(pk) AND #s IN (:queued, :running) AND (#lu < :nowms OR #lo = :me)"),
		ExpressionAttributeNames: map[string]string{"#s": "state", "#lo": "leaseOwner", "#lu": "leaseUntil", "#ua": "updatedAt", "#r": "runs"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":me": avs(owner), ":until": avn(until.UnixMilli()), ":nowms": avn(now.UnixMilli()), ":one": avn(1),
			":running": avs(StateRunning), ":queued": avs(StateQueued), ":now": avs(now.UTC().Format(time.RFC3339Nano)),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if dynamo.ConditionFailed(err) {
		return Job{}, errLeaseLost
	}
	if err != nil {
		return Job{}, errs.Wrap(err, "claim import job")
	}
	var j Job
	if err := attributevalue.UnmarshalMap(out.Attributes, &j); err != nil {
		return Job{}, errs.Wrap(err, "decode import job")
	}
	return j, nil
}

// Advance is the update that moves a job's cursor by p and renews owner's
// lease, conditional on the cursor being at p.From and owner holding the
// lease: written in a member's transaction, it is what makes a row count
// once.
func (st *Store) Advance(tenantID, id, owner string, p Progress, now, until time.Time) dynamo.Update {
	return dynamo.Update{
		Table: st.Table, Key: map[string]string{"pk": tenantPK(tenantID), "sk": jobSK(id)},
		Set: map[string]any{"processed": p.To, "updatedAt": now.UTC().Format(time.RFC3339Nano), "leaseUntil": until.UnixMilli()},
		Add: map[string]int64{"created": int64(p.Created), "updated": int64(p.Updated), "skipped": int64(p.Skipped), "failed": int64(p.Failed)},
		If:  map[string]any{"processed": p.From, "leaseOwner": owner},
	}
}

// Apply writes an Advance on its own (rows that wrote no member).
func (st *Store) Apply(ctx context.Context, u dynamo.Update) error {
	in, err := u.Input()
	if err != nil {
		return errs.Wrap(err, "encode import progress")
	}
	_, err = st.DB.UpdateItem(ctx, in)
	if dynamo.ConditionFailed(err) {
		return errLeaseLost
	}
	return errs.Wrap(err, "advance import job")
}

// Finish ends owner's run of a job: state done or failed (with a code),
// or, for a run handing over to the next invocation, still running with the
// lease released.
func (st *Store) Finish(ctx context.Context, tenantID, id, owner, state, code string, now time.Time) error {
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(st.Table), Key: st.key(tenantID, jobSK(id)),
		UpdateExpression:         aws.String("SET #s = :s, #lu = :zero, #ua = :now"),
		ConditionExpression:      aws.String("#lo = :me"),
		ExpressionAttributeNames: map[string]string{"#s": "state", "#lo": "leaseOwner", "#lu": "leaseUntil", "#ua": "updatedAt"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": avs(state), ":zero": avn(0), ":me": avs(owner), ":now": avs(now.UTC().Format(time.RFC3339Nano)),
		},
	}
	if code != "" {
		*in.UpdateExpression += ", #e = :e"
		in.ExpressionAttributeNames["#e"] = "error"
		in.ExpressionAttributeValues[":e"] = avs(code)
	}
	_, err := st.DB.UpdateItem(ctx, in)
	if dynamo.ConditionFailed(err) {
		return errLeaseLost
	}
	return errs.Wrap(err, "finish import job")
}

// PutFailures records failed rows. A row's failure has a key of its own,
// so writing it again (a resumed run) changes nothing.
func (st *Store) PutFailures(ctx context.Context, j Job, fs []Failure) error {
	items := make([]map[string]types.AttributeValue, 0, len(fs))
	for _, f := range fs {
		it, err := attributevalue.MarshalMap(f)
		if err != nil {
			return errs.Wrap(err, "encode failure")
		}
		it["pk"], it["sk"], it["ttl"] = avs(tenantPK(j.TenantID)), avs(failureSK(j.ID, f.Row)), avn(j.TTL)
		items = append(items, it)
	}
	return st.batchPut(ctx, items)
}

// Failures reads a job's failed rows in row order.
func (st *Store) Failures(ctx context.Context, tenantID, id string) ([]Failure, error) {
	out := []Failure{}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(st.Table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avs(tenantPK(tenantID)), ":p": avs(failurePrefix(id)),
		},
		ConsistentRead: aws.Bool(true),
	}
	for {
		res, err := st.DB.Query(ctx, in)
		if err != nil {
			return nil, errs.Wrap(err, "list import failures")
		}
		var page []Failure
		if err := attributevalue.UnmarshalListOfMaps(res.Items, &page); err != nil {
			return nil, errs.Wrap(err, "decode import failures")
		}
		out = append(out, page...)
		if in.ExclusiveStartKey = res.LastEvaluatedKey; in.ExclusiveStartKey == nil {
			return out, nil
		}
	}
}
