package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// PutVerifyTicket stores a component_verify_ticket WeChat pushed to the
// platform componentAppID, created at createTime (the push's CreateTime),
// as cred#<component_appid>#component_verify_ticket: value, expires_at =
// createTime + credential.VerifyTicketLifetime, refreshed_at = createTime,
// due_at = createTime + credential.VerifyTicketMaxAge (the due index),
// version + 1, last_error_* cleared, any lease left alone. WeChat's pushes
// arrive late, out of order and repeated, so the write is conditional on
// the item holding no ticket or an older one: the newest CreateTime wins.
//
// It reports whether it wrote. A repeat of the stored ticket (same
// CreateTime) is a success that writes nothing; an older ticket than the
// stored one returns credential.ErrSuperseded.
func (s *CredentialStore) PutVerifyTicket(ctx context.Context, componentAppID, ticket string, createTime time.Time) (bool, error) {
	kind := credential.ComponentVerifyTicket
	if componentAppID == "" || ticket == "" || createTime.Unix() <= 0 {
		return false, fmt.Errorf("put %s: component appid, ticket and CreateTime: missing", kind)
	}
	ct := createTime.Unix()
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key:       keyOf(componentAppID, kind),
		UpdateExpression: aws.String("SET #v = :val, #exp = :exp, #ref = :ref, #refms = :refms, #due = :due, #ds = :shard" +
			" ADD #ver :one REMOVE #lec, #le, #lea, #leams"),
		// An item without refreshed_at exists when a sweeper's lease made it
		// before the first ticket arrived.
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR attribute_not_exists(#ref) OR #ref < :ref"),
		ExpressionAttributeNames: map[string]string{
			"#pk": AttrPK, "#v": attrValue, "#exp": attrExpiresAt, "#ref": attrRefreshedAt, "#refms": attrRefreshedAtMs,
			"#ver": attrVersion, "#lec": attrLastErrorCode, "#le": attrLastError, "#lea": attrLastErrorAt, "#leams": attrLastErrorAtMs,
			"#due": AttrDueAt, "#ds": AttrDueShard,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":val":   &types.AttributeValueMemberS{Value: ticket},
			":exp":   num(createTime.Add(credential.VerifyTicketLifetime).Unix()),
			":ref":   num(ct),
			":refms": num(ct * 1000),
			":one":   num(1),
			// The refresher looks at the ticket again once no newer one
			// arrived for VerifyTicketMaxAge (its policy's due time).
			":due":   num(credential.Component.Policy().DueAt(kind, createTime.Add(credential.VerifyTicketLifetime)).Unix()),
			":shard": &types.AttributeValueMemberS{Value: DueShardAll},
		},
	})
	if err == nil {
		return true, nil
	}
	if !isConditionFailed(err) {
		return false, fmt.Errorf("put %s/%s: %w", componentAppID, kind, err)
	}
	// Refused: the stored ticket is as new (a repeated push, or the SDK's
	// retry of our own applied write) or newer.
	cur, gerr := s.Get(ctx, componentAppID, kind, true)
	if gerr != nil {
		return false, fmt.Errorf("put %s/%s: re-read after a refused write: %w", componentAppID, kind, gerr)
	}
	if cur.RefreshedAt.Unix() == ct {
		return false, nil
	}
	return false, fmt.Errorf("put %s/%s created %d: %w", componentAppID, kind, ct, credential.ErrSuperseded)
}
