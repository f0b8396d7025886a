package dynalite

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestStartCreateTableStop(t *testing.T) {
	if _, err := Bin(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skipf("%v (skipping; CI fails instead)", err)
	}
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	ctx := context.Background()
	client, err := s.CreateTable(ctx, "wxcentral-dev")
	if err != nil {
		t.Fatal(err)
	}
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "cred#wx1#access_token"}}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("wxcentral-dev"), Item: key}); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Stop()
	if _, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("wxcentral-dev"), Key: key}); err == nil {
		t.Fatal("GetItem succeeded against a stopped server")
	}
}
