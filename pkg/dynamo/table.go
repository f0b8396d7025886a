// Package dynamo implements wxcentral's stores on Amazon DynamoDB: the
// credential store (consistent reads, leases, fenced commits, error
// records, forced-refresh budget, the due index a sweep queries for the
// credentials that are due) and the callback de-duplication store.
//
// Every write is a single-item conditional write: no transactions, so the
// same code runs against DynamoDB-compatible local servers such as dynalite.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Table layout (docs/dynamodb.md): partition key `pk` (S), no sort key, TTL `ttl`.
const (
	AttrPK  = "pk"
	AttrTTL = "ttl"
)

// API is the subset of *dynamodb.Client that wxcentral's stores use.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// The due index (docs/dynamodb.md#due-index): a sparse global secondary
// index over the credential items a sweep must look at, keyed by
// due_shard (partition) and due_at (sort), so that a sweep reads the few
// due items instead of every credential. Only items carrying both
// attributes are in it (callback dedupe items never are).
const (
	// DueIndex is the index's name (template.yaml, CreateTable).
	DueIndex = "due"
	// AttrDueShard is the index's partition attribute (S).
	AttrDueShard = "due_shard"
	// AttrDueAt is the index's sort attribute (N, unix seconds): when a
	// sweep must next look at the item.
	AttrDueAt = "due_at"
	// AttrComponentAppID (S) names an authorizer's platform; the index
	// projects it so a sweep can map an authorizer's entry to its platform
	// without reading the item.
	AttrComponentAppID = "component_appid"
	// DueShardAll is the one due_shard value every item carries. One index
	// partition takes 1,000 writes a second, and 10,000 credentials change
	// their due_at about 1.4 times a second (a refresh each every ~2 h), so
	// a single value is far from the limit and a sweep's query is a single
	// paginated Query. The attribute is a string so that a larger table can
	// spread items over "0".."n-1" later and query the shards in parallel.
	DueShardAll = "0"
)

// CreateTable creates a table with the key schema and the due index of
// template.yaml and waits until it is active. It is for tests and the local stack; in AWS the
// table comes from the SAM template. TTL is enabled where the server
// supports it (dynalite does not, which only means no automatic expiry).
func CreateTable(ctx context.Context, client *dynamodb.Client, name string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AttrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AttrDueShard), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AttrDueAt), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema:              []types.KeySchemaElement{{AttributeName: aws.String(AttrPK), KeyType: types.KeyTypeHash}},
		BillingMode:            types.BillingModePayPerRequest,
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{DueIndexDefinition()},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = 500 * time.Millisecond
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 2*time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", name, err)
	}
	_, _ = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(AttrTTL), Enabled: aws.Bool(true)},
	})
	return nil
}

// DueIndexDefinition is the due index as template.yaml declares it:
// due_shard (HASH), due_at (RANGE), keys and component_appid projected.
func DueIndexDefinition() types.GlobalSecondaryIndex {
	return types.GlobalSecondaryIndex{
		IndexName: aws.String(DueIndex),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(AttrDueShard), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(AttrDueAt), KeyType: types.KeyTypeRange},
		},
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{AttrComponentAppID}},
	}
}
