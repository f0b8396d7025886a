package dynamo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// Credential item attributes (docs/dynamodb.md). Every *_at is unix seconds;
// lease_until is unix milliseconds.
const (
	attrValue       = "value"
	attrExpiresAt   = "expires_at"
	attrRefreshedAt = "refreshed_at"
	// attrRefreshedAtMs repeats refreshed_at in unix milliseconds. It is not
	// part of the public contract (readers use refreshed_at); the forced
	// refresh needs sub-second order to tell whether WeChat was asked
	// before or after a report arrived in the same second.
	attrRefreshedAtMs = "refreshed_at_ms"
	attrVersion       = "version"
	attrLeaseOwner    = "lease_owner"
	attrLeaseUntil    = "lease_until"
	attrForceDay      = "force_day"
	attrForceCount    = "force_count"
	attrLastForceAt   = "last_force_at"
	// attrLastForceAtMs repeats last_force_at in unix milliseconds (not part
	// of the public contract, which keeps last_force_at in seconds): WeChat's
	// 30 s spacing between force calls must not be rounded to whole seconds.
	attrLastForceAtMs = "last_force_at_ms"
	attrLastErrorCode = "last_error_code"
	attrLastError     = "last_error"
	attrLastErrorAt   = "last_error_at"
	// attrLastErrorAtMs repeats last_error_at in unix milliseconds (not part
	// of the public contract): a forced refresh must tell a failure from
	// earlier in a report's second from one after the report arrived.
	attrLastErrorAtMs = "last_error_at_ms"
)

// credPrefix starts the partition key of every credential item.
const credPrefix = "cred#"

// CredentialStore reads and writes credential items. Every method is one
// DynamoDB call, plus a consistent re-read after a failed condition (to
// explain a SpendForce refusal, or to recognise the caller's own write
// applied by an attempt the SDK retried), and every write is conditional,
// so any number of refreshers can share a table.
type CredentialStore struct {
	api   API
	table string
}

// NewCredentialStore returns a store for the credential items of table.
func NewCredentialStore(api API, table string) *CredentialStore {
	return &CredentialStore{api: api, table: table}
}

func keyOf(appid string, kind credential.Kind) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: credential.Key(appid, kind)}}
}

// Get returns the item as stored (expired values included: deciding whether
// a value may be used is the reader's job, see credential.Credential.Usable).
// It returns credential.ErrNotFound when no item exists.
func (s *CredentialStore) Get(ctx context.Context, appid string, kind credential.Kind, consistent bool) (credential.Record, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            keyOf(appid, kind),
		ConsistentRead: aws.Bool(consistent),
	})
	if err != nil {
		return credential.Record{}, fmt.Errorf("get %s/%s: %w", appid, kind, err)
	}
	if len(out.Item) == 0 {
		return credential.Record{}, fmt.Errorf("get %s/%s: %w", appid, kind, credential.ErrNotFound)
	}
	rec, err := decodeCredential(out.Item)
	if err != nil {
		return credential.Record{}, fmt.Errorf("get %s/%s: %w", appid, kind, err)
	}
	return rec, nil
}

// List scans the table for every credential item (for the operator's status
// command; a scan is fine for a table holding a handful of apps).
func (s *CredentialStore) List(ctx context.Context) ([]credential.Record, error) {
	var (
		recs  []credential.Record
		start map[string]types.AttributeValue
	)
	for {
		out, err := s.api.Scan(ctx, &dynamodb.ScanInput{
			TableName:                 aws.String(s.table),
			FilterExpression:          aws.String("begins_with(#pk, :prefix)"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":prefix": &types.AttributeValueMemberS{Value: credPrefix}},
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			return nil, fmt.Errorf("list credentials: %w", err)
		}
		for _, item := range out.Items {
			rec, err := decodeCredential(item)
			if err != nil {
				return nil, fmt.Errorf("list credentials: %w", err)
			}
			recs = append(recs, rec)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return recs, nil
		}
		start = out.LastEvaluatedKey
	}
}

// decodeCredential turns a credential item into a Record. Absent optional
// attributes give zero values; a malformed one is an error naming it.
func decodeCredential(item map[string]types.AttributeValue) (credential.Record, error) {
	var r credential.Record
	pk, err := attrS(item, AttrPK)
	if err != nil {
		return r, err
	}
	appid, kind, err := parseKey(pk)
	if err != nil {
		return r, err
	}
	r.AppID, r.Kind = appid, kind
	d := decoder{item: item}
	r.Value = d.s(attrValue)
	r.ExpiresAt = d.unixSec(attrExpiresAt)
	r.RefreshedAt = d.unixSec(attrRefreshedAt)
	if _, ok := item[attrRefreshedAtMs]; ok {
		r.RefreshedAt = d.unixMilli(attrRefreshedAtMs)
	}
	r.Version = d.n(attrVersion)
	r.LeaseOwner = d.s(attrLeaseOwner)
	r.LeaseUntil = d.unixMilli(attrLeaseUntil)
	r.ForceDay = d.s(attrForceDay)
	r.ForceCount = int(d.n(attrForceCount))
	r.LastForceAt = d.unixSec(attrLastForceAt)
	if _, ok := item[attrLastForceAtMs]; ok {
		r.LastForceAt = d.unixMilli(attrLastForceAtMs)
	} else if !r.LastForceAt.IsZero() {
		// Written before last_force_at_ms existed: read as the end of its
		// second, so the spacing is never shortened (SpendForce agrees).
		r.LastForceAt = r.LastForceAt.Add(time.Second)
	}
	r.LastErrorCode = int(d.n(attrLastErrorCode))
	r.LastError = d.s(attrLastError)
	// Written before last_error_at_ms existed: read as the start of its
	// second, so a failure in a report's second counts as earlier.
	r.LastErrorAt = d.unixSec(attrLastErrorAt)
	if _, ok := item[attrLastErrorAtMs]; ok {
		r.LastErrorAt = d.unixMilli(attrLastErrorAtMs)
	}
	r.DueAt = d.unixSec(AttrDueAt)
	r.ComponentAppID = d.s(AttrComponentAppID)
	if d.err != nil {
		return credential.Record{}, fmt.Errorf("item %s: %w", pk, d.err)
	}
	return r, nil
}

func parseKey(pk string) (string, credential.Kind, error) {
	rest, ok := strings.CutPrefix(pk, credPrefix)
	i := strings.LastIndexByte(rest, '#')
	if !ok || i <= 0 {
		return "", "", fmt.Errorf("pk: not a credential key")
	}
	kind, err := credential.ParseKind(rest[i+1:])
	if err != nil || rest[i+1:] == "" {
		return "", "", fmt.Errorf("pk: unknown kind")
	}
	return rest[:i], kind, nil
}

func attrS(item map[string]types.AttributeValue, name string) (string, error) {
	v, ok := item[name]
	if !ok {
		return "", fmt.Errorf("%s: missing", name)
	}
	s, ok := v.(*types.AttributeValueMemberS)
	if !ok {
		return "", fmt.Errorf("%s: not a string", name)
	}
	return s.Value, nil
}

// decoder collects the first decoding error so decodeCredential reads flat.
type decoder struct {
	item map[string]types.AttributeValue
	err  error
}

func (d *decoder) fail(name, what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %s", name, what)
	}
}

func (d *decoder) s(name string) string {
	v, ok := d.item[name]
	if !ok {
		return ""
	}
	s, ok := v.(*types.AttributeValueMemberS)
	if !ok {
		d.fail(name, "not a string")
		return ""
	}
	return s.Value
}

func (d *decoder) n(name string) int64 {
	v, ok := d.item[name]
	if !ok {
		return 0
	}
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		d.fail(name, "not a number")
		return 0
	}
	i, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		d.fail(name, "not an integer")
		return 0
	}
	return i
}

func (d *decoder) unixSec(name string) time.Time {
	if _, ok := d.item[name]; !ok {
		return time.Time{}
	}
	return time.Unix(d.n(name), 0)
}

func (d *decoder) unixMilli(name string) time.Time {
	if _, ok := d.item[name]; !ok {
		return time.Time{}
	}
	return time.UnixMilli(d.n(name))
}

// encodeCredential is the inverse of decodeCredential: the whole item for
// r, omitting zero-valued optional attributes (the lease, budget and error
// attributes exist only while they mean something).
func encodeCredential(r credential.Record) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: credential.Key(r.AppID, r.Kind)}}
	putS := func(name, v string) {
		if v != "" {
			item[name] = &types.AttributeValueMemberS{Value: v}
		}
	}
	putN := func(name string, v int64, present bool) {
		if present {
			item[name] = num(v)
		}
	}
	putS(attrValue, r.Value)
	putN(attrExpiresAt, r.ExpiresAt.Unix(), !r.ExpiresAt.IsZero())
	putN(attrRefreshedAt, r.RefreshedAt.Unix(), !r.RefreshedAt.IsZero())
	putN(attrRefreshedAtMs, r.RefreshedAt.UnixMilli(), !r.RefreshedAt.IsZero())
	putN(attrVersion, r.Version, r.Version != 0)
	putS(attrLeaseOwner, r.LeaseOwner)
	putN(attrLeaseUntil, r.LeaseUntil.UnixMilli(), r.LeaseOwner != "")
	putS(attrForceDay, r.ForceDay)
	putN(attrForceCount, int64(r.ForceCount), r.ForceDay != "")
	putN(attrLastForceAt, r.LastForceAt.Unix(), !r.LastForceAt.IsZero())
	putN(attrLastForceAtMs, r.LastForceAt.UnixMilli(), !r.LastForceAt.IsZero())
	putN(attrLastErrorCode, int64(r.LastErrorCode), !r.LastErrorAt.IsZero())
	putS(attrLastError, r.LastError)
	putN(attrLastErrorAt, r.LastErrorAt.Unix(), !r.LastErrorAt.IsZero())
	putN(attrLastErrorAtMs, r.LastErrorAt.UnixMilli(), !r.LastErrorAt.IsZero())
	due := r.DueAt
	if r.Value != "" && !r.ExpiresAt.IsZero() {
		// No later than the earliest any type's policy gives for the value
		// (an early due_at costs a sweep a read, a late one a missed
		// refresh): a record seeded with another expiry than its DueAt's
		// is still due in time.
		if d := credential.DueAt(r.Kind, r.ExpiresAt); due.IsZero() || d.Before(due) {
			due = d
		}
	}
	if !due.IsZero() {
		item[AttrDueAt] = num(due.Unix())
		item[AttrDueShard] = &types.AttributeValueMemberS{Value: DueShardAll}
	}
	putS(AttrComponentAppID, r.ComponentAppID)
	return item
}

// Put writes r as a whole item, unconditionally. It is for seeding tests and
// the local stack; refreshers use the conditional methods. The item is in
// the due index at r.DueAt or, when r holds a value, at credential.DueAt of
// its expiry if that is earlier (or r.DueAt is zero).
func (s *CredentialStore) Put(ctx context.Context, r credential.Record) error {
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: encodeCredential(r)})
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", r.AppID, r.Kind, err)
	}
	return nil
}

func num(v int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// update runs one conditional UpdateItem returning the item after it.
// A failed condition is reported as condErr, unless applied (when not nil)
// recognises our own write in a consistent re-read: the SDK retries a
// request whose answer was lost, and when DynamoDB had applied the first
// attempt the retry fails its own condition.
func (s *CredentialStore) update(ctx context.Context, appid string, kind credential.Kind, expr, cond string,
	names map[string]string, values map[string]types.AttributeValue, condErr error,
	applied func(credential.Record) bool) (credential.Record, error) {
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(appid, kind),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err == nil {
		return decodeCredential(out.Attributes)
	}
	if !isConditionFailed(err) {
		return credential.Record{}, err
	}
	if applied != nil {
		if cur, gerr := s.Get(ctx, appid, kind, true); gerr == nil && applied(cur) {
			return cur, nil
		}
	}
	return credential.Record{}, condErr
}

// TakeLease sets lease_owner = owner and lease_until = now+ttl, only if no
// live lease exists (none, or lease_until <= now), and returns the item
// after the update. It returns credential.ErrLeaseHeld when another
// refresher holds a live lease. The item is created when absent. An item
// without due_at gets due_at = now (an existing one is left alone), so an
// item a refresher ever leased is in the due index and stays due until a
// commit moves it: a crashed leaseholder's or a failed item is found again
// by the next sweep.
func (s *CredentialStore) TakeLease(ctx context.Context, appid string, kind credential.Kind, owner string, now time.Time, ttl time.Duration) (credential.Record, error) {
	if owner == "" {
		return credential.Record{}, fmt.Errorf("take lease %s/%s: owner: missing", appid, kind)
	}
	rec, err := s.update(ctx, appid, kind,
		"SET #lo = :me, #lu = :until, #due = if_not_exists(#due, :nowsec), #ds = :shard",
		"attribute_not_exists(#lu) OR #lu <= :now",
		map[string]string{"#lo": attrLeaseOwner, "#lu": attrLeaseUntil, "#due": AttrDueAt, "#ds": AttrDueShard},
		map[string]types.AttributeValue{
			":me":     &types.AttributeValueMemberS{Value: owner},
			":until":  num(now.Add(ttl).UnixMilli()),
			":now":    num(now.UnixMilli()),
			":nowsec": num(now.Unix()),
			":shard":  &types.AttributeValueMemberS{Value: DueShardAll},
		}, credential.ErrLeaseHeld,
		func(cur credential.Record) bool { return ownLease(cur, owner, now.Add(ttl)) })
	if err != nil {
		return rec, fmt.Errorf("take lease %s/%s: %w", appid, kind, err)
	}
	return rec, nil
}

// Commit writes a refreshed value, fenced on the caller's lease: only if
// lease_owner is still c.Owner and the value is still c.PrevValue. It sets
// value, expires_at and refreshed_at (and due_at, component_appid: see
// dueSet), adds 1 to version only when the value changed, clears
// last_error_* and removes the lease, in one conditional update, and
// returns the item after it. A lost lease returns
// credential.ErrLeaseLost and writes nothing.
func (s *CredentialStore) Commit(ctx context.Context, appid string, kind credential.Kind, c credential.Commit) (credential.Record, error) {
	if c.Owner == "" || c.Value == "" {
		return credential.Record{}, fmt.Errorf("commit %s/%s: owner and value: missing", appid, kind)
	}
	names := map[string]string{
		"#lo": attrLeaseOwner, "#lu": attrLeaseUntil, "#v": attrValue, "#exp": attrExpiresAt,
		"#ref": attrRefreshedAt, "#refms": attrRefreshedAtMs, "#lec": attrLastErrorCode, "#le": attrLastError, "#lea": attrLastErrorAt,
		"#leams": attrLastErrorAtMs,
	}
	values := map[string]types.AttributeValue{
		":me":    &types.AttributeValueMemberS{Value: c.Owner},
		":val":   &types.AttributeValueMemberS{Value: c.Value},
		":exp":   num(c.ExpiresAt.Unix()),
		":ref":   num(c.RefreshedAt.Unix()),
		":refms": num(c.RefreshedAt.UnixMilli()),
	}
	expr := "SET #v = :val, #exp = :exp, #ref = :ref, #refms = :refms" + dueSet(c, names, values)
	if c.Value != c.PrevValue {
		names["#ver"] = attrVersion
		values[":one"] = num(1)
		expr += " ADD #ver :one"
	}
	expr += " REMOVE #lo, #lu, #lec, #le, #lea, #leams"
	cond := "#lo = :me AND attribute_not_exists(#v)"
	if c.PrevValue != "" {
		values[":prev"] = &types.AttributeValueMemberS{Value: c.PrevValue}
		cond = "#lo = :me AND #v = :prev"
	}
	rec, err := s.update(ctx, appid, kind, expr, cond, names, values, credential.ErrLeaseLost, committed(c))
	if err != nil {
		return rec, fmt.Errorf("commit %s/%s: %w", appid, kind, err)
	}
	return rec, nil
}

// CommitUnleased writes a value WeChat issued to a force call after the
// caller's lease was lost: the force revoked the stored value on WeChat's
// side, so the new one is written unless the item already holds something
// newer. The write is conditional on the item holding c.PrevValue or a
// value obtained before c.RefreshedAt, and not c.Value already; it adds 1
// to version, writes due_at and component_appid like Commit, clears
// last_error_* and leaves any lease alone. A refused
// write returns credential.ErrSuperseded.
func (s *CredentialStore) CommitUnleased(ctx context.Context, appid string, kind credential.Kind, c credential.Commit) (credential.Record, error) {
	if c.Value == "" || c.PrevValue == "" {
		return credential.Record{}, fmt.Errorf("commit %s/%s without lease: value and previous value: missing", appid, kind)
	}
	names := map[string]string{"#v": attrValue, "#exp": attrExpiresAt, "#ref": attrRefreshedAt, "#refms": attrRefreshedAtMs,
		"#ver": attrVersion, "#lec": attrLastErrorCode, "#le": attrLastError, "#lea": attrLastErrorAt, "#leams": attrLastErrorAtMs}
	values := map[string]types.AttributeValue{
		":val":   &types.AttributeValueMemberS{Value: c.Value},
		":prev":  &types.AttributeValueMemberS{Value: c.PrevValue},
		":exp":   num(c.ExpiresAt.Unix()),
		":ref":   num(c.RefreshedAt.Unix()),
		":refms": num(c.RefreshedAt.UnixMilli()),
		":one":   num(1),
	}
	rec, err := s.update(ctx, appid, kind,
		"SET #v = :val, #exp = :exp, #ref = :ref, #refms = :refms"+dueSet(c, names, values)+" ADD #ver :one REMOVE #lec, #le, #lea, #leams",
		"#v <> :val AND (#v = :prev OR #refms < :refms OR attribute_not_exists(#refms))",
		names, values, credential.ErrSuperseded, committed(c))
	if err != nil {
		return rec, fmt.Errorf("commit %s/%s without lease: %w", appid, kind, err)
	}
	return rec, nil
}

// RecordFailure writes last_error_code, last_error and last_error_at
// (last_error_at_ms to the millisecond) and releases the caller's lease, in one update conditional on the lease. A
// lost lease returns credential.ErrLeaseLost and writes nothing (the new
// leaseholder's outcome is the one that counts).
func (s *CredentialStore) RecordFailure(ctx context.Context, appid string, kind credential.Kind, owner string, f credential.Failure) error {
	msg := f.Message
	if msg == "" {
		msg = "unknown error"
	}
	_, err := s.update(ctx, appid, kind,
		"SET #lec = :code, #le = :msg, #lea = :at, #leams = :atms REMOVE #lo, #lu",
		"#lo = :me",
		map[string]string{"#lo": attrLeaseOwner, "#lu": attrLeaseUntil, "#lec": attrLastErrorCode, "#le": attrLastError,
			"#lea": attrLastErrorAt, "#leams": attrLastErrorAtMs},
		map[string]types.AttributeValue{
			":me":   &types.AttributeValueMemberS{Value: owner},
			":code": num(int64(f.Code)),
			":msg":  &types.AttributeValueMemberS{Value: msg},
			":at":   num(f.At.Unix()),
			":atms": num(f.At.UnixMilli()),
		}, credential.ErrLeaseLost,
		func(cur credential.Record) bool {
			return cur.LeaseOwner != owner && cur.LastErrorCode == f.Code && cur.LastError == msg && cur.LastErrorAt.UnixMilli() == f.At.UnixMilli()
		})
	if err != nil {
		return fmt.Errorf("record failure %s/%s: %w", appid, kind, err)
	}
	return nil
}

// ReleaseLease removes the caller's lease without other changes. A lease
// already gone or taken over returns credential.ErrLeaseLost.
func (s *CredentialStore) ReleaseLease(ctx context.Context, appid string, kind credential.Kind, owner string) error {
	_, err := s.update(ctx, appid, kind, "REMOVE #lo, #lu", "#lo = :me",
		map[string]string{"#lo": attrLeaseOwner, "#lu": attrLeaseUntil},
		map[string]types.AttributeValue{":me": &types.AttributeValueMemberS{Value: owner}},
		credential.ErrLeaseLost, nil)
	if err != nil {
		return fmt.Errorf("release lease %s/%s: %w", appid, kind, err)
	}
	return nil
}

// SpendForce takes one unit of the forced-refresh budget for the caller,
// who must hold a live lease (lease_until > now), and extends that lease to
// now+ttl so the force call that follows fits inside it: force_count + 1 on
// the same Asia/Shanghai day (1 on a new day), last_force_at = now
// (last_force_at_ms to the millisecond). The lease, the daily limit and the
// 30 s spacing are checked in the write's condition; a refusal is explained
// by a consistent re-read as credential.ErrForceBudgetExhausted,
// credential.ErrForceTooSoon or credential.ErrLeaseLost. It returns the
// item after the update.
func (s *CredentialStore) SpendForce(ctx context.Context, appid string, kind credential.Kind, owner string, now time.Time, ttl time.Duration, limit int) (credential.Record, error) {
	today := credential.ForceDay(now)
	names := map[string]string{"#lo": attrLeaseOwner, "#lu": attrLeaseUntil, "#fd": attrForceDay, "#fc": attrForceCount,
		"#lfa": attrLastForceAt, "#lfams": attrLastForceAtMs}
	spacedAt := now.Add(-credential.ForceSpacing)
	values := map[string]types.AttributeValue{
		":me":        &types.AttributeValueMemberS{Value: owner},
		":today":     &types.AttributeValueMemberS{Value: today},
		":now":       num(now.Unix()),
		":nowms":     num(now.UnixMilli()),
		":spacedms":  num(spacedAt.UnixMilli()),
		":spacedsec": num(spacedAt.Unix()),
		":one":       num(1),
		":until":     num(now.Add(ttl).UnixMilli()),
	}
	// Spacing to the millisecond; an item from before last_force_at_ms
	// counts its whole second (s+1 <= now-30s).
	spaced := "(attribute_not_exists(#lfa) OR #lfams <= :spacedms OR (attribute_not_exists(#lfams) AND #lfa < :spacedsec))"
	sameDay := func() (credential.Record, error) {
		v := maps.Clone(values)
		v[":limit"] = num(int64(limit))
		return s.update(ctx, appid, kind, "SET #fc = #fc + :one, #lfa = :now, #lfams = :nowms, #lu = :until",
			"#lo = :me AND #lu > :nowms AND #fd = :today AND #fc < :limit AND "+spaced, names, v, errRefused, nil)
	}
	newDay := func() (credential.Record, error) {
		if limit < 1 {
			return credential.Record{}, errRefused
		}
		return s.update(ctx, appid, kind, "SET #fd = :today, #fc = :one, #lfa = :now, #lfams = :nowms, #lu = :until",
			"#lo = :me AND #lu > :nowms AND (attribute_not_exists(#fd) OR #fd <> :today) AND "+spaced, names, values, errRefused, nil)
	}
	wrap := func(err error) error { return fmt.Errorf("spend force budget %s/%s: %w", appid, kind, err) }
	rec, err := sameDay()
	for attempt := 0; errors.Is(err, errRefused) && attempt < 3; attempt++ {
		cur, gerr := s.Get(ctx, appid, kind, true)
		switch {
		case errors.Is(gerr, credential.ErrNotFound):
			return credential.Record{}, wrap(credential.ErrLeaseLost)
		case gerr != nil:
			return credential.Record{}, wrap(gerr)
		case cur.LeaseOwner == owner && cur.ForceDay == today && cur.LastForceAt.UnixMilli() == now.UnixMilli() &&
			cur.LeaseUntil.UnixMilli() == now.Add(ttl).UnixMilli():
			// Our own spend, applied by an attempt whose answer was lost
			// (only the leaseholder spends, once per lease).
			return cur, nil
		case cur.LeaseOwner != owner || !now.Before(cur.LeaseUntil):
			return credential.Record{}, wrap(credential.ErrLeaseLost)
		case cur.ForceUsed(now) >= limit:
			return credential.Record{}, wrap(credential.ErrForceBudgetExhausted)
		case !cur.ForceSpaced(now):
			return credential.Record{}, wrap(credential.ErrForceTooSoon)
		case cur.ForceDay == today:
			rec, err = sameDay()
		default:
			rec, err = newDay()
		}
	}
	if err != nil {
		return credential.Record{}, wrap(err)
	}
	return rec, nil
}

// dueSet is the SET clauses (each starting ", ") a commit adds for the due
// index: due_at and due_shard when c.DueAt is set, component_appid when
// c.ComponentAppID is. A commit moves due_at to the new value's due time;
// failures and leases never move it forward, so a failed item stays due.
func dueSet(c credential.Commit, names map[string]string, values map[string]types.AttributeValue) string {
	var expr string
	if !c.DueAt.IsZero() {
		names["#due"], names["#ds"] = AttrDueAt, AttrDueShard
		values[":due"], values[":shard"] = num(c.DueAt.Unix()), &types.AttributeValueMemberS{Value: DueShardAll}
		expr += ", #due = :due, #ds = :shard"
	}
	if c.ComponentAppID != "" {
		names["#cpa"] = AttrComponentAppID
		values[":cpa"] = &types.AttributeValueMemberS{Value: c.ComponentAppID}
		expr += ", #cpa = :cpa"
	}
	return expr
}

// ownLease reports whether cur shows the lease owner took until.
func ownLease(cur credential.Record, owner string, until time.Time) bool {
	return cur.LeaseOwner == owner && cur.LeaseUntil.UnixMilli() == until.UnixMilli()
}

// committed recognises c's write in the item: its value, obtained at the
// same millisecond, with the same expiry.
func committed(c credential.Commit) func(credential.Record) bool {
	return func(cur credential.Record) bool {
		return cur.Value == c.Value && cur.RefreshedAt.UnixMilli() == c.RefreshedAt.UnixMilli() && cur.ExpiresAt.Unix() == c.ExpiresAt.Unix()
	}
}

// errRefused marks a failed SpendForce condition before it is explained.
var errRefused = errors.New("condition refused")
