package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// SweepMetaKey is the partition key of the sweep's meta item: the digest
// of the configuration whose every credential item is in the due index
// (docs/refresh.md#finding-due-work). Only the refresh function reads or
// writes it.
const SweepMetaKey = "meta#sweep"

// Sweep meta item attributes.
const (
	attrSweepDigest   = "digest" // the dedupe item's digest is another item family
	attrSweepDigestAt = "digest_at"
)

// DueItems returns the entries of the due index with due_at <= until, in
// due_at order: records holding only AppID, Kind, DueAt and ComponentAppID
// (the index projects nothing else). The query is eventually consistent
// (half the read units of a consistent one; the sweep reads each entry's
// item consistently before acting) and paginated. An entry whose key is not
// a credential key is skipped: a foreign item must not stop every sweep.
func (s *CredentialStore) DueItems(ctx context.Context, until time.Time) ([]credential.Record, error) {
	var (
		recs  []credential.Record
		start map[string]types.AttributeValue
	)
	for {
		out, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String(DueIndex),
			KeyConditionExpression:    aws.String("#ds = :shard AND #due <= :until"),
			ExpressionAttributeNames:  map[string]string{"#ds": AttrDueShard, "#due": AttrDueAt},
			ExpressionAttributeValues: map[string]types.AttributeValue{":shard": &types.AttributeValueMemberS{Value: DueShardAll}, ":until": num(until.Unix())},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, fmt.Errorf("query due index: %w", err)
		}
		for _, item := range out.Items {
			pk, err := attrS(item, AttrPK)
			if err != nil {
				continue
			}
			appid, kind, err := parseKey(pk)
			if err != nil {
				continue
			}
			d := decoder{item: item}
			rec := credential.Record{DueAt: d.unixSec(AttrDueAt), ComponentAppID: d.s(AttrComponentAppID)}
			if d.err != nil {
				continue
			}
			rec.AppID, rec.Kind = appid, kind
			recs = append(recs, rec)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return recs, nil
		}
		start = out.LastEvaluatedKey
	}
}

// MarkDue puts an item that holds a value expiring at expiresAt into the
// due index at due (with componentAppID when not ""), conditionally on
// expires_at still being expiresAt: a commit in between wrote its own
// due_at, which must not be overwritten. It is the cheap write that indexes
// an item written before the due index existed, or corrects a due_at that
// disagrees with the policy. A refused write returns credential.ErrSuperseded.
func (s *CredentialStore) MarkDue(ctx context.Context, appid string, kind credential.Kind, expiresAt, due time.Time, componentAppID string) error {
	if expiresAt.IsZero() || due.IsZero() {
		return fmt.Errorf("mark due %s/%s: expires_at and due_at: missing", appid, kind)
	}
	names := map[string]string{"#exp": attrExpiresAt}
	values := map[string]types.AttributeValue{":exp": num(expiresAt.Unix())}
	expr := dueSet(credential.Commit{DueAt: due, ComponentAppID: componentAppID}, names, values)
	_, err := s.update(ctx, appid, kind, "SET"+expr[1:], "#exp = :exp", names, values, credential.ErrSuperseded,
		func(cur credential.Record) bool { return cur.DueAt.Unix() == due.Unix() })
	if err != nil {
		return fmt.Errorf("mark due %s/%s: %w", appid, kind, err)
	}
	return nil
}

// Unindex takes an item out of the due index (removes due_at and
// due_shard) when no sweep keeps it any more (its app left the apps
// document), conditionally on due_at still being due (what the caller saw
// in the index) and on no refresher having leased it or recorded a failure
// on it since quietSince: an item any sweeper still works on stays indexed.
// A refused write returns credential.ErrSuperseded.
func (s *CredentialStore) Unindex(ctx context.Context, appid string, kind credential.Kind, due, quietSince time.Time) error {
	_, err := s.update(ctx, appid, kind, "REMOVE #due, #ds",
		"#due = :due AND (attribute_not_exists(#lu) OR #lu < :quiet) AND (attribute_not_exists(#leams) OR #leams < :quiet)",
		map[string]string{"#due": AttrDueAt, "#ds": AttrDueShard, "#lu": attrLeaseUntil, "#leams": attrLastErrorAtMs},
		map[string]types.AttributeValue{":due": num(due.Unix()), ":quiet": num(quietSince.UnixMilli())},
		credential.ErrSuperseded, func(cur credential.Record) bool { return cur.DueAt.IsZero() })
	if err != nil {
		return fmt.Errorf("unindex %s/%s: %w", appid, kind, err)
	}
	return nil
}

// SweepDigest returns the digest stored in the sweep meta item and when it
// was written, "" when there is none. The read is eventually consistent: a
// stale answer only makes a sweep do one more full pass.
func (s *CredentialStore) SweepDigest(ctx context.Context) (string, time.Time, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table),
		Key:       map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: SweepMetaKey}},
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("get %s: %w", SweepMetaKey, err)
	}
	d := decoder{item: out.Item}
	digest, at := d.s(attrSweepDigest), d.unixSec(attrSweepDigestAt)
	if d.err != nil {
		// Unreadable: treated as no digest, so the next full pass rewrites it.
		return "", time.Time{}, nil
	}
	return digest, at, nil
}

// PutSweepDigest stores digest (and when, at) in the sweep meta item. It
// is an UpdateItem (the refresh function's only write action) without a
// condition: any digest stored names a configuration whose items were all
// indexed by the sweep that wrote it, so the last writer may win.
func (s *CredentialStore) PutSweepDigest(ctx context.Context, digest string, at time.Time) error {
	if digest == "" {
		return errors.New("put sweep digest: digest: missing")
	}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: SweepMetaKey}},
		UpdateExpression:          aws.String("SET #d = :d, #at = :at"),
		ExpressionAttributeNames:  map[string]string{"#d": attrSweepDigest, "#at": attrSweepDigestAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": &types.AttributeValueMemberS{Value: digest}, ":at": num(at.Unix())},
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", SweepMetaKey, err)
	}
	return nil
}
