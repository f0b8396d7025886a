package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/pkg/callback"
)

// Callback dedupe item attributes (DESIGN.md §4): pk = msg#<appid>#<key>.
const (
	AttrStatus          = "status"
	AttrInProgressUntil = "in_progress_until" // unix milliseconds
	AttrReply           = "reply"             // full plaintext reply XML, "" for success

	StatusInProgress = "IN_PROGRESS"
	StatusCompleted  = "COMPLETED"

	msgPrefix = "msg#"
)

// DedupeTTL is how long a dedupe item lives (its `ttl`).
const DedupeTTL = callback.DedupeTTL

// DedupeStore is callback.DedupeStore on DynamoDB: a conditional put claims
// a push, a put records the reply, a conditional delete releases a claim.
type DedupeStore struct {
	api   API
	table string
}

var _ callback.DedupeStore = (*DedupeStore)(nil)

// NewDedupeStore returns the dedupe store in table.
func NewDedupeStore(api API, table string) *DedupeStore {
	return &DedupeStore{api: api, table: table}
}

func dedupeKey(appid, key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: msgPrefix + appid + "#" + key}}
}

func dedupeNum(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// Claim takes the claim unless a live claim or an unexpired completed record
// exists. A claim whose in_progress_until has passed (its holder died) and
// an item past its ttl (DynamoDB deletes late) count as absent.
func (s *DedupeStore) Claim(ctx context.Context, appid, key string, now, until time.Time) (callback.Claim, error) {
	for attempt := 0; attempt < 3; attempt++ {
		item := dedupeKey(appid, key)
		item[AttrStatus] = &types.AttributeValueMemberS{Value: StatusInProgress}
		item[AttrInProgressUntil] = dedupeNum(until.UnixMilli())
		item[AttrTTL] = dedupeNum(now.Add(DedupeTTL).Unix())
		_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.table),
			Item:      item,
			// Same rules as Lookup: no ttl never expires; an IN_PROGRESS
			// item without in_progress_until is a stale claim.
			ConditionExpression: aws.String("attribute_not_exists(#pk) OR #ttl < :nows OR " +
				"(#status = :inprog AND (attribute_not_exists(#until) OR #until < :nowms))"),
			ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#ttl": AttrTTL, "#status": AttrStatus,
				"#until": AttrInProgressUntil},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":nows": dedupeNum(now.Unix()), ":nowms": dedupeNum(now.UnixMilli()),
				":inprog": &types.AttributeValueMemberS{Value: StatusInProgress},
			},
		})
		if err == nil {
			return callback.Claim{State: callback.ClaimAcquired}, nil
		}
		var failed *types.ConditionalCheckFailedException
		if !errors.As(err, &failed) {
			return callback.Claim{}, fmt.Errorf("dedupe claim %s: %w", appid, err)
		}
		c, err := s.Lookup(ctx, appid, key, now)
		if err != nil || c.State != callback.ClaimAbsent {
			return c, err
		}
		// Released between our put and our read: try again.
	}
	return callback.Claim{State: callback.ClaimInProgress}, nil
}

// Lookup reads the item consistently.
func (s *DedupeStore) Lookup(ctx context.Context, appid, key string, now time.Time) (callback.Claim, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: dedupeKey(appid, key), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return callback.Claim{}, fmt.Errorf("dedupe lookup %s: %w", appid, err)
	}
	if out.Item == nil {
		return callback.Claim{State: callback.ClaimAbsent}, nil
	}
	// An item without ttl never expires (DynamoDB TTL ignores it).
	if ttl, ok := dedupeNum64(out.Item, AttrTTL); ok && ttl < now.Unix() {
		return callback.Claim{State: callback.ClaimAbsent}, nil
	}
	switch dedupeS(out.Item, AttrStatus) {
	case StatusCompleted:
		return callback.Claim{State: callback.ClaimCompleted, Reply: []byte(dedupeS(out.Item, AttrReply))}, nil
	case StatusInProgress:
		if dedupeN(out.Item, AttrInProgressUntil) >= now.UnixMilli() {
			return callback.Claim{State: callback.ClaimInProgress}, nil
		}
	}
	return callback.Claim{State: callback.ClaimAbsent}, nil
}

// Complete records the plaintext reply (empty for `success`).
func (s *DedupeStore) Complete(ctx context.Context, appid, key string, reply []byte, now time.Time) error {
	item := dedupeKey(appid, key)
	item[AttrStatus] = &types.AttributeValueMemberS{Value: StatusCompleted}
	item[AttrReply] = &types.AttributeValueMemberS{Value: string(reply)}
	item[AttrTTL] = dedupeNum(now.Add(DedupeTTL).Unix())
	if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
		return fmt.Errorf("dedupe complete %s: %w", appid, err)
	}
	return nil
}

// Release deletes a claim that is still in progress, so that WeChat's next
// delivery runs the handler again. A completed record is left alone.
func (s *DedupeStore) Release(ctx context.Context, appid, key string) error {
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       dedupeKey(appid, key),
		ConditionExpression:       aws.String("#status = :inprog"),
		ExpressionAttributeNames:  map[string]string{"#status": AttrStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{":inprog": &types.AttributeValueMemberS{Value: StatusInProgress}},
	})
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		return fmt.Errorf("dedupe release %s: %w", appid, err)
	}
	return nil
}

func dedupeS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func dedupeN(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

// dedupeNum64 is the numeric attribute name and whether it is present.
func dedupeNum64(item map[string]types.AttributeValue, name string) (int64, bool) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	return n, err == nil
}
