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

// Callback dedupe item attributes (docs/dynamodb.md): pk = msg#<appid>#<key>.
const (
	attrStatus          = "status"
	attrInProgressUntil = "in_progress_until" // unix milliseconds
	attrReply           = "reply"             // full plaintext reply XML, "" for success
	attrOwner           = "owner"             // the claiming delivery's random token
	attrDigest          = "digest"            // hex SHA-256 of the push's plaintext

	statusInProgress = "IN_PROGRESS"
	statusCompleted  = "COMPLETED"

	msgPrefix = "msg#"
)

// dedupeTTL is how long a dedupe item lives (its `ttl`).
const dedupeTTL = callback.DedupeTTL

// DedupeStore is callback.DedupeStore on DynamoDB: a conditional put claims
// a push, an update conditional on the claim's owner records the reply, a
// delete conditional on it releases the claim.
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
// an item past its ttl (DynamoDB deletes late) count as absent. A live
// claim of req.Owner is ours: the SDK retried a put DynamoDB had applied.
func (s *DedupeStore) Claim(ctx context.Context, appid, key string, req callback.ClaimRequest) (callback.Claim, error) {
	for attempt := 0; attempt < 3; attempt++ {
		item := dedupeKey(appid, key)
		item[attrStatus] = &types.AttributeValueMemberS{Value: statusInProgress}
		item[attrOwner] = &types.AttributeValueMemberS{Value: req.Owner}
		item[attrDigest] = &types.AttributeValueMemberS{Value: req.Digest}
		item[attrInProgressUntil] = dedupeNum(req.Until.UnixMilli())
		item[AttrTTL] = dedupeNum(req.Now.Add(dedupeTTL).Unix())
		_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.table),
			Item:      item,
			// Same rules as Lookup: no ttl never expires; an IN_PROGRESS
			// item without in_progress_until is a stale claim.
			ConditionExpression: aws.String("attribute_not_exists(#pk) OR #ttl < :nows OR " +
				"(#status = :inprog AND (attribute_not_exists(#until) OR #until < :nowms OR #owner = :me))"),
			ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#ttl": AttrTTL, "#status": attrStatus,
				"#until": attrInProgressUntil, "#owner": attrOwner},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":nows": dedupeNum(req.Now.Unix()), ":nowms": dedupeNum(req.Now.UnixMilli()),
				":inprog": &types.AttributeValueMemberS{Value: statusInProgress},
				":me":     &types.AttributeValueMemberS{Value: req.Owner},
			},
		})
		if err == nil {
			return callback.Claim{State: callback.ClaimAcquired}, nil
		}
		var failed *types.ConditionalCheckFailedException
		if !errors.As(err, &failed) {
			return callback.Claim{}, fmt.Errorf("dedupe claim %s: %w", appid, err)
		}
		c, err := s.Lookup(ctx, appid, key, req.Now)
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
	digest := dedupeS(out.Item, attrDigest)
	switch dedupeS(out.Item, attrStatus) {
	case statusCompleted:
		return callback.Claim{State: callback.ClaimCompleted, Reply: []byte(dedupeS(out.Item, attrReply)), Digest: digest}, nil
	case statusInProgress:
		if dedupeN(out.Item, attrInProgressUntil) >= now.UnixMilli() {
			return callback.Claim{State: callback.ClaimInProgress, Digest: digest}, nil
		}
	}
	return callback.Claim{State: callback.ClaimAbsent}, nil
}

// Complete records the plaintext reply (empty for `success`) on owner's
// claim, keeping its digest. It is conditional on owner, so a delivery
// whose claim was taken over never overwrites the new holder's; a retried
// call that DynamoDB had applied meets its own owner and succeeds again.
func (s *DedupeStore) Complete(ctx context.Context, appid, key, owner string, reply []byte, now time.Time) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 dedupeKey(appid, key),
		UpdateExpression:    aws.String("SET #status = :done, #reply = :reply, #ttl = :ttl REMOVE #until"),
		ConditionExpression: aws.String("#owner = :me"),
		ExpressionAttributeNames: map[string]string{"#status": attrStatus, "#reply": attrReply, "#ttl": AttrTTL,
			"#until": attrInProgressUntil, "#owner": attrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":done":  &types.AttributeValueMemberS{Value: statusCompleted},
			":reply": &types.AttributeValueMemberS{Value: string(reply)},
			":ttl":   dedupeNum(now.Add(dedupeTTL).Unix()),
			":me":    &types.AttributeValueMemberS{Value: owner},
		},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return fmt.Errorf("dedupe complete %s: %w", appid, callback.ErrClaimLost)
	}
	if err != nil {
		return fmt.Errorf("dedupe complete %s: %w", appid, err)
	}
	return nil
}

// Release deletes owner's claim while it is still in progress, so that
// WeChat's next delivery runs the handler again. A completed record and
// another delivery's claim are left alone.
func (s *DedupeStore) Release(ctx context.Context, appid, key, owner string) error {
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      dedupeKey(appid, key),
		ConditionExpression:      aws.String("#status = :inprog AND #owner = :me"),
		ExpressionAttributeNames: map[string]string{"#status": attrStatus, "#owner": attrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":inprog": &types.AttributeValueMemberS{Value: statusInProgress},
			":me":     &types.AttributeValueMemberS{Value: owner},
		},
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
