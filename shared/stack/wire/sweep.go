package wire

import (
	"context"

	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/sms"
)

// Sweep is what the scheduled sweeps that text members share: the
// directory (names and mobiles), SMS, and the shard count of their due
// index.
type Sweep struct {
	DirectoryTable string
	Codec          *directory.Codec
	SMS            *sms.SNS
	Shards         int
}

// NewSweep reads DIRECTORY_TABLE, SMS_SENDER_ID and INDEX_SHARDS from c,
// after the caller's own settings, fails on any setting c found missing or
// bad, then reads the directory's secrets at once and builds its codec.
func NewSweep(ctx context.Context, env *cloud.Env, c *config.Reader) (Sweep, error) {
	s := Sweep{
		DirectoryTable: c.Required("DIRECTORY_TABLE"),
		SMS:            &sms.SNS{Client: env.SNS, SenderID: c.String("SMS_SENDER_ID", "")},
		Shards:         c.Int("INDEX_SHARDS", dynamo.DefaultShards),
	}
	if err := c.Err(); err != nil {
		return Sweep{}, err
	}
	if err := env.Prefetch(ctx, "DATA_KEYS_SECRET", "INDEX_KEY_SECRET"); err != nil {
		return Sweep{}, err
	}
	var err error
	s.Codec, err = DirectoryCodec(ctx, env, s.DirectoryTable)
	return s, err
}
