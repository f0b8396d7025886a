package dynamotest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestNewTableRoundTrip(t *testing.T) {
	client, table := NewTable(t)
	ctx := context.Background()
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "cred#wx1#access_token"}}
	item := map[string]types.AttributeValue{"pk": key["pk"], "value": &types.AttributeValueMemberS{Value: "v"}}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := out.Item["value"].(*types.AttributeValueMemberS); !ok || v.Value != "v" {
		t.Fatalf("got item %v", out.Item)
	}
}

func TestDedicatedServerStops(t *testing.T) {
	s := Start(t)
	client, table := s.NewTable(t)
	s.Stop()
	_, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "x"}}})
	if err == nil {
		t.Fatal("GetItem succeeded against a stopped server")
	}
}
