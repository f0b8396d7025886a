package samtemplate

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
)

// The table the template deploys and the one pkg/dynamo.CreateTable builds
// for tests and the local stack must have the same key schema, or code that
// passes locally fails in AWS.
func TestTableKeySchemaMatchesCreateTable(t *testing.T) {
	tpl := loadTemplate(t)
	table, _ := tpl.Resource("Table")
	tplKeys := describeKeys(t, table.Properties["KeySchema"], table.Properties["AttributeDefinitions"])

	client, name := dynamotest.NewTable(t) // created by dynamo.CreateTable
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, d := range out.Table.AttributeDefinitions {
		types[aws.ToString(d.AttributeName)] = string(d.AttributeType)
	}
	var created []string
	for _, k := range out.Table.KeySchema {
		n := aws.ToString(k.AttributeName)
		created = append(created, fmt.Sprintf("%s %s %s", n, types[n], k.KeyType))
	}
	sort.Strings(created)
	if fmt.Sprint(created) != fmt.Sprint(tplKeys) {
		t.Errorf("CreateTable key schema %v, template.yaml %v", created, tplKeys)
	}
	if fmt.Sprint(tplKeys) != fmt.Sprint([]string{dynamo.AttrPK + " S HASH"}) {
		t.Errorf("template key schema %v, want [%s S HASH] (docs/dynamodb.md)", tplKeys, dynamo.AttrPK)
	}
	if out.Table.BillingModeSummary != nil && out.Table.BillingModeSummary.BillingMode != "PAY_PER_REQUEST" {
		t.Errorf("CreateTable billing mode %s, template PAY_PER_REQUEST", out.Table.BillingModeSummary.BillingMode)
	}
	// dynalite does not implement TTL, so compare the attribute CreateTable
	// enables with the template's.
	ttl, _ := table.Properties["TimeToLiveSpecification"].(map[string]any)
	if ttl["AttributeName"] != dynamo.AttrTTL {
		t.Errorf("template TTL attribute %v, pkg/dynamo %s", ttl["AttributeName"], dynamo.AttrTTL)
	}
}

// describeKeys renders a template KeySchema as sorted "name type keytype".
func describeKeys(t *testing.T, keySchema, attrDefs any) []string {
	t.Helper()
	types := map[string]string{}
	defs, _ := attrDefs.([]any)
	for _, d := range defs {
		dm, _ := d.(map[string]any)
		types[fmt.Sprint(dm["AttributeName"])] = fmt.Sprint(dm["AttributeType"])
	}
	ks, _ := keySchema.([]any)
	var out []string
	for _, k := range ks {
		km, _ := k.(map[string]any)
		n := fmt.Sprint(km["AttributeName"])
		out = append(out, fmt.Sprintf("%s %s %s", n, types[n], km["KeyType"]))
	}
	if len(defs) != len(out) {
		t.Errorf("template defines %d attributes for %d keys (CloudFormation rejects extras)", len(defs), len(out))
	}
	sort.Strings(out)
	return out
}
