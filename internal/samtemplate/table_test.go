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
	tplKeys, tplIndexes := describeKeys(t, table.Properties)

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
	// The due index: the same name, keys and projection in both.
	var created2 []string
	for _, g := range out.Table.GlobalSecondaryIndexes {
		var ks []string
		for _, k := range g.KeySchema {
			n := aws.ToString(k.AttributeName)
			ks = append(ks, fmt.Sprintf("%s %s %s", n, types[n], k.KeyType))
		}
		created2 = append(created2, fmt.Sprintf("%s %v %s %v", aws.ToString(g.IndexName), ks, g.Projection.ProjectionType, g.Projection.NonKeyAttributes))
	}
	if fmt.Sprint(created2) != fmt.Sprint(tplIndexes) {
		t.Errorf("CreateTable indexes %v, template.yaml %v", created2, tplIndexes)
	}
	want := fmt.Sprintf("%s [%s S HASH %s N RANGE] INCLUDE [%s]", dynamo.DueIndex, dynamo.AttrDueShard, dynamo.AttrDueAt, dynamo.AttrComponentAppID)
	if fmt.Sprint(tplIndexes) != "["+want+"]" {
		t.Errorf("template indexes %v, want [%s] (docs/dynamodb.md#due-index)", tplIndexes, want)
	}
	// dynalite does not implement TTL, so compare the attribute CreateTable
	// enables with the template's.
	ttl, _ := table.Properties["TimeToLiveSpecification"].(map[string]any)
	if ttl["AttributeName"] != dynamo.AttrTTL {
		t.Errorf("template TTL attribute %v, pkg/dynamo %s", ttl["AttributeName"], dynamo.AttrTTL)
	}
}

// describeKeys renders a template table's KeySchema as sorted "name type
// keytype", and each global secondary index as "name [keys] projection
// [non-key attributes]".
func describeKeys(t *testing.T, props map[string]any) (keys, indexes []string) {
	t.Helper()
	types := map[string]string{}
	defs, _ := props["AttributeDefinitions"].([]any)
	for _, d := range defs {
		dm, _ := d.(map[string]any)
		types[fmt.Sprint(dm["AttributeName"])] = fmt.Sprint(dm["AttributeType"])
	}
	used := map[string]bool{}
	render := func(schema any) []string {
		ks, _ := schema.([]any)
		var out []string
		for _, k := range ks {
			km, _ := k.(map[string]any)
			n := fmt.Sprint(km["AttributeName"])
			used[n] = true
			out = append(out, fmt.Sprintf("%s %s %s", n, types[n], km["KeyType"]))
		}
		return out
	}
	keys = render(props["KeySchema"])
	sort.Strings(keys)
	gsis, _ := props["GlobalSecondaryIndexes"].([]any)
	for _, g := range gsis {
		gm, _ := g.(map[string]any)
		proj, _ := gm["Projection"].(map[string]any)
		nonKey := []string{}
		if nk, ok := proj["NonKeyAttributes"].([]any); ok {
			for _, a := range nk {
				nonKey = append(nonKey, fmt.Sprint(a))
			}
		}
		indexes = append(indexes, fmt.Sprintf("%s %v %s %v", gm["IndexName"], render(gm["KeySchema"]), proj["ProjectionType"], nonKey))
	}
	if len(defs) != len(used) {
		t.Errorf("template defines %d attributes for %d key attributes (CloudFormation rejects extras)", len(defs), len(used))
	}
	return keys, indexes
}
