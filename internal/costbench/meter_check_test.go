package costbench_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
)

// TestMeterCountsCallsAndUnits checks the meter against DynamoDB's rules,
// so that a server that stops reporting consumed capacity cannot turn the
// cost figures into zeros: a write of an item under 1 KB is 1 write unit
// (also when its condition fails), a consistent read under 4 KB 1 read
// unit, an eventually consistent one half.
func TestMeterCountsCallsAndUnits(t *testing.T) {
	base, table := dynamotest.NewTable(t)
	m := newMeter()
	c := m.client(base)
	ctx := context.Background()
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "cred#wx0123456789abcdef#access_token"}}
	item := map[string]types.AttributeValue{"pk": key["pk"], "value": &types.AttributeValueMemberS{Value: "a-token-of-a-hundred-bytes-or-so"}}
	put := &dynamodb.PutItemInput{TableName: aws.String(table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}
	if _, err := c.PutItem(ctx, put); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutItem(ctx, put); err == nil {
		t.Fatal("second conditional put succeeded")
	}
	for _, consistent := range []bool{true, false} {
		if _, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(consistent)}); err != nil {
			t.Fatal(err)
		}
	}
	r := m.reading()
	if r.calls != 4 || r.byOp["PutItem"] != 2 || r.byOp["GetItem"] != 2 {
		t.Errorf("calls %d %v, want 2 PutItem and 2 GetItem", r.calls, r.byOp)
	}
	if r.read != 1.5 || r.writeUnits() != 2 || r.failedWrites != 1 {
		t.Errorf("read units %.1f, write units %.1f (%d refused), want 1.5, 2 (1 refused)", r.read, r.writeUnits(), r.failedWrites)
	}
}
