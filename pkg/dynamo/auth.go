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

// Authorization item attributes (docs/dynamodb.md): the item
// auth#<component_appid>#<authorizer_appid> has refresh_token, authorized_at
// (unix seconds, the event's CreateTime) and version.
const (
	attrRefreshToken = "refresh_token"
	attrAuthorizedAt = "authorized_at"
)

func authKeyOf(componentAppID, authorizerAppID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: credential.AuthorizationKey(componentAppID, authorizerAppID)}}
}

func checkAuthIDs(op, componentAppID, authorizerAppID string) error {
	if componentAppID == "" || authorizerAppID == "" {
		return fmt.Errorf("%s: component_appid and authorizer_appid: missing", op)
	}
	return nil
}

// GetAuthorization reads auth#<componentAppID>#<authorizerAppID>
// consistently; credential.ErrNotFound when the account has not authorised
// the platform (or withdrew).
func (s *CredentialStore) GetAuthorization(ctx context.Context, componentAppID, authorizerAppID string) (credential.Authorization, error) {
	op := "get authorization " + componentAppID + "/" + authorizerAppID
	if err := checkAuthIDs(op, componentAppID, authorizerAppID); err != nil {
		return credential.Authorization{}, err
	}
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: authKeyOf(componentAppID, authorizerAppID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return credential.Authorization{}, fmt.Errorf("%s: %w", op, err)
	}
	if len(out.Item) == 0 {
		return credential.Authorization{}, fmt.Errorf("%s: %w", op, credential.ErrNotFound)
	}
	d := decoder{item: out.Item}
	a := credential.Authorization{
		ComponentAppID: componentAppID, AuthorizerAppID: authorizerAppID,
		RefreshToken: d.s(attrRefreshToken), AuthorizedAt: d.unixSec(attrAuthorizedAt), Version: d.n(attrVersion),
	}
	if d.err != nil {
		return credential.Authorization{}, fmt.Errorf("%s: %w", op, d.err)
	}
	return a, nil
}

// Authorize stores the refresh token an authorization code was exchanged
// for (api_query_auth), with authorized_at = a.AuthorizedAt (the event's
// CreateTime), and adds 1 to version. WeChat pushes events late, out of
// order and repeated, so the write is conditional on the item holding no
// authorization or an older one: an older event never undoes a newer one.
// A refused write returns credential.ErrSuperseded, unless the item already
// holds exactly a (the SDK's retry of our own applied write). It returns
// the item after the write.
func (s *CredentialStore) Authorize(ctx context.Context, a credential.Authorization) (credential.Authorization, error) {
	op := "authorize " + a.ComponentAppID + "/" + a.AuthorizerAppID
	if err := checkAuthIDs(op, a.ComponentAppID, a.AuthorizerAppID); err != nil {
		return credential.Authorization{}, err
	}
	if a.RefreshToken == "" || a.AuthorizedAt.Unix() <= 0 {
		return credential.Authorization{}, fmt.Errorf("%s: refresh_token and authorized_at: missing", op)
	}
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 authKeyOf(a.ComponentAppID, a.AuthorizerAppID),
		UpdateExpression:    aws.String("SET #rt = :rt, #at = :at ADD #ver :one"),
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR #at < :at"),
		ExpressionAttributeNames: map[string]string{
			"#pk": AttrPK, "#rt": attrRefreshToken, "#at": attrAuthorizedAt, "#ver": attrVersion,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":rt": &types.AttributeValueMemberS{Value: a.RefreshToken}, ":at": num(a.AuthorizedAt.Unix()), ":one": num(1),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err == nil {
		d := decoder{item: out.Attributes}
		a.AuthorizedAt, a.Version = d.unixSec(attrAuthorizedAt), d.n(attrVersion)
		return a, d.err
	}
	if !isConditionFailed(err) {
		return credential.Authorization{}, fmt.Errorf("%s: %w", op, err)
	}
	cur, gerr := s.GetAuthorization(ctx, a.ComponentAppID, a.AuthorizerAppID)
	if gerr == nil && cur.RefreshToken == a.RefreshToken && cur.AuthorizedAt.Unix() == a.AuthorizedAt.Unix() {
		return cur, nil
	}
	return credential.Authorization{}, fmt.Errorf("%s created %d: %w", op, a.AuthorizedAt.Unix(), credential.ErrSuperseded)
}

// RotateRefreshToken replaces the refresh token with the one
// api_authorizer_token rotated to, conditional on version still being
// version (compare-and-swap on the item the caller read), and adds 1 to
// version. A newer authorisation or rotation written since, or an item
// removed since, returns credential.ErrSuperseded (that one wins); the
// SDK's retry of our own applied write is recognised by its refresh token.
func (s *CredentialStore) RotateRefreshToken(ctx context.Context, componentAppID, authorizerAppID string, version int64, refreshToken string) (credential.Authorization, error) {
	op := "rotate refresh token " + componentAppID + "/" + authorizerAppID
	if err := checkAuthIDs(op, componentAppID, authorizerAppID); err != nil {
		return credential.Authorization{}, err
	}
	if refreshToken == "" || version <= 0 {
		return credential.Authorization{}, fmt.Errorf("%s: refresh_token and version: missing", op)
	}
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       authKeyOf(componentAppID, authorizerAppID),
		UpdateExpression:          aws.String("SET #rt = :rt ADD #ver :one"),
		ConditionExpression:       aws.String("#ver = :ver"),
		ExpressionAttributeNames:  map[string]string{"#rt": attrRefreshToken, "#ver": attrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":rt": &types.AttributeValueMemberS{Value: refreshToken}, ":ver": num(version), ":one": num(1)},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err == nil {
		d := decoder{item: out.Attributes}
		a := credential.Authorization{ComponentAppID: componentAppID, AuthorizerAppID: authorizerAppID,
			RefreshToken: d.s(attrRefreshToken), AuthorizedAt: d.unixSec(attrAuthorizedAt), Version: d.n(attrVersion)}
		return a, d.err
	}
	if !isConditionFailed(err) {
		return credential.Authorization{}, fmt.Errorf("%s: %w", op, err)
	}
	cur, gerr := s.GetAuthorization(ctx, componentAppID, authorizerAppID)
	if gerr == nil && cur.RefreshToken == refreshToken && cur.Version == version+1 {
		return cur, nil
	}
	return credential.Authorization{}, fmt.Errorf("%s from version %d: %w", op, version, credential.ErrSuperseded)
}

// RemoveAuthorization deletes the authorization for an unauthorized event
// created at createTime, conditional on the stored authorized_at not being
// newer: a re-authorisation after the withdrawal survives its late push.
// An item already gone is success; a newer one returns
// credential.ErrSuperseded.
func (s *CredentialStore) RemoveAuthorization(ctx context.Context, componentAppID, authorizerAppID string, createTime time.Time) error {
	op := "remove authorization " + componentAppID + "/" + authorizerAppID
	if err := checkAuthIDs(op, componentAppID, authorizerAppID); err != nil {
		return err
	}
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       authKeyOf(componentAppID, authorizerAppID),
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #at <= :ct"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#at": attrAuthorizedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":ct": num(createTime.Unix())},
	})
	switch {
	case err == nil:
		return nil
	case isConditionFailed(err):
		return fmt.Errorf("%s created %d: %w", op, createTime.Unix(), credential.ErrSuperseded)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// CommitAuthorized writes an authorizer's credential obtained outside a
// lease: the access token api_query_auth returned with a new
// authorisation. It sets value, expires_at, refreshed_at, due_at (c.DueAt)
// and component_appid (c.ComponentAppID), adds 1 to version, clears
// last_error_* and leaves any lease alone, conditional on the item holding
// no value obtained at or after c.RefreshedAt (to the millisecond): a newer
// value is never replaced. A sweep that holds the lease meanwhile finds the
// value changed under it, so its fenced Commit is refused and its result
// discarded. A refused write returns credential.ErrSuperseded, unless the
// item already holds c (the SDK's retry of our own applied write).
func (s *CredentialStore) CommitAuthorized(ctx context.Context, appid string, kind credential.Kind, c credential.Commit) (credential.Record, error) {
	if c.Value == "" || c.ComponentAppID == "" || c.RefreshedAt.IsZero() {
		return credential.Record{}, fmt.Errorf("commit authorized %s/%s: value, component_appid and refreshed_at: missing", appid, kind)
	}
	names := map[string]string{
		"#v": attrValue, "#exp": attrExpiresAt, "#ref": attrRefreshedAt, "#refms": attrRefreshedAtMs, "#ver": attrVersion,
		"#lec": attrLastErrorCode, "#le": attrLastError, "#lea": attrLastErrorAt, "#leams": attrLastErrorAtMs,
	}
	values := map[string]types.AttributeValue{
		":val":   &types.AttributeValueMemberS{Value: c.Value},
		":exp":   num(c.ExpiresAt.Unix()),
		":ref":   num(c.RefreshedAt.Unix()),
		":refms": num(c.RefreshedAt.UnixMilli()),
		":one":   num(1),
	}
	// dueSet: component_appid, and due_at with due_shard so that the due
	// index finds the authorizer's token.
	expr := "SET #v = :val, #exp = :exp, #ref = :ref, #refms = :refms" + dueSet(c, names, values)
	expr += " ADD #ver :one REMOVE #lec, #le, #lea, #leams"
	rec, err := s.update(ctx, appid, kind, expr,
		"attribute_not_exists(#refms) OR #refms < :refms", names, values, credential.ErrSuperseded, committed(c))
	if err != nil {
		return rec, fmt.Errorf("commit authorized %s/%s: %w", appid, kind, err)
	}
	return rec, nil
}

// RemoveAuthorizerCredential deletes an authorizer's credential item for an
// unauthorized event of componentAppID created at createTime, conditional
// on the item belonging to that platform (component_appid, or none) and
// holding no value obtained after createTime: a re-authorisation's token
// survives a late withdrawal push. A lease on the item does not stop it
// (the leaseholder's fenced commit is then refused). An item already gone
// is success; a refused delete returns credential.ErrSuperseded.
func (s *CredentialStore) RemoveAuthorizerCredential(ctx context.Context, appid string, kind credential.Kind, componentAppID string, createTime time.Time) error {
	if appid == "" || componentAppID == "" {
		return fmt.Errorf("remove %s/%s: appid and component_appid: missing", appid, kind)
	}
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key:       keyOf(appid, kind),
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR ((attribute_not_exists(#comp) OR #comp = :comp)" +
			" AND (attribute_not_exists(#ref) OR #ref <= :ct))"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#comp": AttrComponentAppID, "#ref": attrRefreshedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":comp": &types.AttributeValueMemberS{Value: componentAppID}, ":ct": num(createTime.Unix())},
	})
	switch {
	case err == nil:
		return nil
	case isConditionFailed(err):
		return fmt.Errorf("remove %s/%s created %d: %w", appid, kind, createTime.Unix(), credential.ErrSuperseded)
	}
	return fmt.Errorf("remove %s/%s: %w", appid, kind, err)
}
