package directory

import (
	"context"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// Search bounds: the token items one lookup reads, and the candidates
// opened and ranked (one BatchGetItem).
const (
	maxTokenItems = 500
	maxCandidates = 100
	MaxQueryRunes = 64
)

// Search finds members by name (any part), mobile (in full or its last four
// or more digits), account, full pinyin and pinyin initials, exact matches
// first. It is one or two Queries on token items and one BatchGetItem of
// the candidates; it never scans the tenant nor opens members that no
// token points at. Results are paged by offset (cursor) over the best 100.
func (s *Service) Search(ctx context.Context, tenantID, q, cursor string, limit int) ([]Match, string, error) {
	q = NormalizeQuery(q)
	if q == "" || utf8.RuneCountInString(q) > MaxQueryRunes {
		return nil, "", errs.Invalidf("q", "invalid_query", "q must be 1–%d characters", MaxQueryRunes)
	}
	cursors := dynamo.ListCursors("directory/search", tenantID, q)
	offset := 0
	if ok, err := cursors.Decode(cursor, &offset); err != nil || ok && (offset < 1 || offset > maxCandidates) {
		return nil, "", dynamo.InvalidCursor()
	}
	hint := map[string]int{}
	for i, form := range lookups(q) {
		found, err := s.Store.SearchTokens(ctx, tenantID, form, maxTokenItems)
		if err != nil {
			return nil, "", err
		}
		for id, r := range found {
			if i > 0 {
				r = rankUnknown // found by a shorter form: the match is checked below
			}
			if old, ok := hint[id]; !ok || r < old {
				hint[id] = r
			}
		}
	}
	ids := make([]string, 0, len(hint))
	for id := range hint {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if hint[ids[i]] != hint[ids[j]] {
			return hint[ids[i]] < hint[ids[j]]
		}
		return ids[i] < ids[j]
	})
	if len(ids) > maxCandidates {
		ids = ids[:maxCandidates]
	}
	members, err := s.Members(ctx, tenantID, ids)
	if err != nil {
		return nil, "", err
	}
	var matches []Match
	for _, m := range members {
		if r := rank(m, q); r >= 0 {
			matches = append(matches, Match{Member: m, Rank: r})
		}
	}
	sortMatches(matches)
	if offset >= len(matches) {
		return []Match{}, "", nil
	}
	end := min(offset+limit, len(matches))
	next := ""
	if end < len(matches) {
		next = cursors.Encode(end)
	}
	return matches[offset:end], next, nil
}

// SearchTokens reads up to limit search items of form's blind token:
// member id → rank hint.
func (st *DynamoStore) SearchTokens(ctx context.Context, tenantID, form string, limit int) (map[string]int, error) {
	token := st.Codec.searchToken(tenantID, form)
	res, err := st.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:              st.table(),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avs(TenantPK(tenantID)), ":p": avs(tokenPrefix(token)),
		},
		ProjectionExpression: aws.String("sk, r"),
		Limit:                aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, errs.Wrap(err, "search tokens")
	}
	found := make(map[string]int, len(res.Items))
	for _, it := range res.Items {
		sk := str(it["sk"])
		id := sk[strings.LastIndexByte(sk, '#')+1:]
		if r, ok := found[id]; !ok || int(num(it["r"])) < r {
			found[id] = int(num(it["r"]))
		}
	}
	return found, nil
}
