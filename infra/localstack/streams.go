package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	sttypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"workbench/infra/template"
)

// DefaultStreamPoll is how often the local event source mappings read
// their streams when nothing nudges them.
const DefaultStreamPoll = 500 * time.Millisecond

// Streams runs the template's DynamoDB stream event source mappings on
// moto: each reads its table's stream (GetShardIterator, GetRecords) and
// invokes its function with events.DynamoDBEvent batches, one batch at a
// time. A failing batch is split in halves while the mapping bisects; a
// record that still fails after the retries goes to the on-failure
// destination, which here is the log (and Failures).
type Streams struct {
	// Interval is the polling period; Nudge polls at once.
	Interval time.Duration
	Logger   *slog.Logger

	client   *dynamodbstreams.Client
	db       *dynamodb.Client
	mappings []*mapping

	mu       sync.Mutex
	failures []StreamFailure
	wg       sync.WaitGroup
}

// StreamFailure is a batch given up on: what an on-failure destination
// receives.
type StreamFailure struct {
	Mapping            string
	StreamARN          string
	FirstSeq, LastSeq  string
	Records            int
	Error              string
	ApproximateArrival time.Time
}

type mapping struct {
	template.StreamMapping
	fn       *Function
	table    string // physical name
	arn      string // stream ARN
	iterator *string
	nudge    chan struct{}
	// busy is held while a poll runs, so that Drain waits for it.
	busy sync.Mutex
}

// Streams returns the stream mappings of the template, served by fns. They
// do nothing until Start.
func (s *Stack) Streams(fns map[string]*Function) (*Streams, error) {
	st := &Streams{
		Interval: DefaultStreamPoll,
		Logger:   s.log,
		db:       s.db,
		client: dynamodbstreams.New(dynamodbstreams.Options{
			Region:       Region,
			BaseEndpoint: aws.String(s.cfg.Endpoint),
			Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		}),
	}
	for _, m := range s.cfg.Template.StreamMappings {
		fn, ok := fns[m.Function]
		if !ok {
			return nil, fmt.Errorf("localstack: stream mapping %s: function %s is not built", m.LogicalID, m.Function)
		}
		st.mappings = append(st.mappings, &mapping{StreamMapping: m, fn: fn, table: s.Name(m.Table), nudge: make(chan struct{}, 1)})
	}
	return st, nil
}

// Open positions every mapping in its stream: at its end for LATEST, so
// only writes from now on are delivered. Drain then delivers on demand.
func (st *Streams) Open(ctx context.Context) error {
	for _, m := range st.mappings {
		if err := st.position(ctx, m); err != nil {
			return fmt.Errorf("localstack: stream mapping %s: %w", m.LogicalID, err)
		}
	}
	return nil
}

// Start opens the mappings and polls them until ctx ends.
func (st *Streams) Start(ctx context.Context) error {
	if err := st.Open(ctx); err != nil {
		return err
	}
	for _, m := range st.mappings {
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			st.run(ctx, m)
		}()
	}
	return nil
}

// Wait returns when every poller has stopped (after ctx ends).
func (st *Streams) Wait() { st.wg.Wait() }

func (st *Streams) position(ctx context.Context, m *mapping) error {
	out, err := st.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(m.table)})
	if err != nil {
		return err
	}
	m.arn = aws.ToString(out.Table.LatestStreamArn)
	if m.arn == "" {
		return fmt.Errorf("table %s has no stream", m.table)
	}
	desc, err := st.client.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(m.arn)})
	if err != nil {
		return err
	}
	if len(desc.StreamDescription.Shards) == 0 {
		return fmt.Errorf("stream %s has no shard", m.arn)
	}
	// moto keeps one shard per stream.
	it, err := st.client.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
		StreamArn:         aws.String(m.arn),
		ShardId:           desc.StreamDescription.Shards[0].ShardId,
		ShardIteratorType: sttypes.ShardIteratorType(m.StartingPosition),
	})
	if err != nil {
		return err
	}
	m.iterator = it.ShardIterator
	return nil
}

// Nudge makes every mapping poll now: the gateway calls it after a request
// that may have written, so that a change does not wait for the interval.
func (st *Streams) Nudge() {
	for _, m := range st.mappings {
		select {
		case m.nudge <- struct{}{}:
		default:
		}
	}
}

// Drain polls every mapping until its stream has nothing more, and returns
// when each batch read has been delivered.
func (st *Streams) Drain(ctx context.Context) {
	for _, m := range st.mappings {
		for st.poll(ctx, m) > 0 {
		}
	}
}

// Failures returns the batches given up on so far.
func (st *Streams) Failures() []StreamFailure {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]StreamFailure(nil), st.failures...)
}

func (st *Streams) run(ctx context.Context, m *mapping) {
	tick := time.NewTicker(st.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-m.nudge:
		}
		for st.poll(ctx, m) > 0 {
		}
	}
}

// poll reads one batch and delivers it; it returns the number of records.
func (st *Streams) poll(ctx context.Context, m *mapping) int {
	m.busy.Lock()
	defer m.busy.Unlock()
	if ctx.Err() != nil || m.iterator == nil {
		return 0
	}
	out, err := st.client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: m.iterator, Limit: aws.Int32(int32(m.BatchSize))})
	if err != nil {
		if ctx.Err() == nil {
			st.logger().Error("stream read failed", "mapping", m.LogicalID, "err", err)
		}
		return 0
	}
	if out.NextShardIterator != nil {
		m.iterator = out.NextShardIterator
	}
	if len(out.Records) == 0 {
		return 0
	}
	recs := make([]events.DynamoDBEventRecord, len(out.Records))
	for i, r := range out.Records {
		recs[i] = eventRecord(r, m.arn)
	}
	st.deliver(ctx, m, recs)
	return len(recs)
}

// deliver invokes the function with recs; on failure it splits the batch
// (when the mapping bisects) down to the failing record, which it retries
// MaxRetries times before giving it up to the failure destination.
func (st *Streams) deliver(ctx context.Context, m *mapping, recs []events.DynamoDBEventRecord) {
	retries := m.MaxRetries
	if retries < 0 {
		retries = 3 // Lambda retries until the record expires; locally, a few times
	}
	var err error
	for attempt := 0; attempt <= retries; attempt++ {
		if err = st.invoke(ctx, m, recs); err == nil || ctx.Err() != nil {
			return
		}
		st.logger().Warn("stream batch failed", "mapping", m.LogicalID, "records", len(recs), "attempt", attempt+1, "err", err)
		if m.Bisect && len(recs) > 1 {
			half := len(recs) / 2
			st.deliver(ctx, m, recs[:half])
			st.deliver(ctx, m, recs[half:])
			return
		}
	}
	f := StreamFailure{
		Mapping: m.LogicalID, StreamARN: m.arn, Records: len(recs), Error: err.Error(),
		FirstSeq: recs[0].Change.SequenceNumber, LastSeq: recs[len(recs)-1].Change.SequenceNumber,
		ApproximateArrival: recs[0].Change.ApproximateCreationDateTime.Time,
	}
	st.logger().Error("stream batch sent to the on-failure destination", "mapping", m.LogicalID, "destination", m.OnFailure,
		"first_seq", f.FirstSeq, "last_seq", f.LastSeq, "records", f.Records, "err", err)
	st.mu.Lock()
	st.failures = append(st.failures, f)
	st.mu.Unlock()
}

func (st *Streams) invoke(ctx context.Context, m *mapping, recs []events.DynamoDBEventRecord) error {
	payload, err := json.Marshal(events.DynamoDBEvent{Records: recs})
	if err != nil {
		return err
	}
	_, err = m.fn.Invoke(ctx, payload)
	return err
}

func (st *Streams) logger() *slog.Logger {
	if st.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return st.Logger
}

// eventRecord is a stream record as Lambda hands it to a function.
func eventRecord(r sttypes.Record, streamARN string) events.DynamoDBEventRecord {
	c := r.Dynamodb
	rec := events.DynamoDBEventRecord{
		AWSRegion:      Region,
		EventID:        aws.ToString(r.EventID),
		EventName:      string(r.EventName),
		EventSource:    "aws:dynamodb",
		EventVersion:   "1.1",
		EventSourceArn: streamARN,
	}
	if c == nil {
		return rec
	}
	rec.Change = events.DynamoDBStreamRecord{
		Keys:           eventAttributes(c.Keys),
		NewImage:       eventAttributes(c.NewImage),
		OldImage:       eventAttributes(c.OldImage),
		SequenceNumber: aws.ToString(c.SequenceNumber),
		SizeBytes:      aws.ToInt64(c.SizeBytes),
		StreamViewType: string(c.StreamViewType),
	}
	if c.ApproximateCreationDateTime != nil {
		rec.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: *c.ApproximateCreationDateTime}
	}
	return rec
}

func eventAttributes(m map[string]sttypes.AttributeValue) map[string]events.DynamoDBAttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		out[k] = eventAttribute(v)
	}
	return out
}

func eventAttribute(v sttypes.AttributeValue) events.DynamoDBAttributeValue {
	switch v := v.(type) {
	case *sttypes.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value)
	case *sttypes.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value)
	case *sttypes.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value)
	case *sttypes.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value)
	case *sttypes.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value)
	case *sttypes.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value)
	case *sttypes.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value)
	case *sttypes.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = eventAttribute(e)
		}
		return events.NewListAttribute(l)
	case *sttypes.AttributeValueMemberM:
		return events.NewMapAttribute(eventAttributes(v.Value))
	}
	return events.NewNullAttribute()
}
