// Package announcefn builds AnnouncementsFunction.
package announcefn

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/announce"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/httpapi"
	"workbench/shared/lambdahttp"
	"workbench/shared/stack/wire"
)

// Announcements serves /v1/announcements/...
func Announcements(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	table := c.Required("ANNOUNCEMENTS_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	if err := c.Err(); err != nil {
		return nil, err
	}
	if err := env.Prefetch(ctx, "DATA_KEYS_SECRET", "INDEX_KEY_SECRET", "TOKEN_KEY_SECRET"); err != nil {
		return nil, err
	}
	members, err := wire.MemberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	codec, err := wire.DirectoryCodec(ctx, env, directoryTable)
	if err != nil {
		return nil, err
	}
	svc := &announce.Service{
		Store:     &announce.DynamoStore{DB: env.DynamoDB, Table: table},
		Directory: announceDirectory{&directory.Roster{DB: env.DynamoDB, Table: directoryTable, Codec: codec}},
		Now:       env.Now,
	}
	r := httpapi.NewRouter()
	(&announce.HTTP{Service: svc, Members: members}).Register(r)
	return lambdahttp.Handler(r), nil
}

// announceDirectory gives the announcements app the directory's roster in
// its own terms.
type announceDirectory struct{ *directory.Roster }

func (d announceDirectory) Members(ctx context.Context, tenantID string) ([]announce.Member, error) {
	ms, err := d.EnabledMembers(ctx, tenantID)
	list := make([]announce.Member, len(ms))
	for i, m := range ms {
		list[i] = announce.Member{ID: m.ID, Name: m.Name, DepartmentIDs: m.DepartmentIDs}
	}
	return list, err
}

var _ announce.Directory = announceDirectory{}
