package costbench_test

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// meter counts the DynamoDB calls of a client by operation and sums the
// capacity units the server reports for them.
type meter struct {
	mu    sync.Mutex
	calls map[string]int
	read  float64 // read request units (on-demand: RRU)
	write float64 // write request units (WRU)
	// failedWrites are conditional writes the server refused: DynamoDB
	// bills them (1 WRU for an item up to 1 KB) but reports no capacity.
	failedWrites int
}

func newMeter() *meter { return &meter{calls: map[string]int{}} }

// client returns a copy of base whose every call is metered.
func (m *meter) client(base *dynamodb.Client) *dynamodb.Client {
	return dynamodb.New(base.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("costbenchMeter", m.handle), middleware.After)
		})
	})
}

// handle asks the server for the consumed capacity and records it. It runs
// once per call, outside the SDK's retry loop (no retries on loopback).
func (m *meter) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	total := types.ReturnConsumedCapacityTotal
	switch p := in.Parameters.(type) {
	case *dynamodb.GetItemInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.PutItemInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.UpdateItemInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.DeleteItemInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.ScanInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.QueryInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.BatchGetItemInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.BatchWriteItemInput:
		p.ReturnConsumedCapacity = total
	}
	out, md, err := next.HandleInitialize(ctx, in)
	var cc []*types.ConsumedCapacity
	switch r := out.Result.(type) {
	case *dynamodb.GetItemOutput:
		cc = append(cc, r.ConsumedCapacity)
	case *dynamodb.PutItemOutput:
		cc = append(cc, r.ConsumedCapacity)
	case *dynamodb.UpdateItemOutput:
		cc = append(cc, r.ConsumedCapacity)
	case *dynamodb.DeleteItemOutput:
		cc = append(cc, r.ConsumedCapacity)
	case *dynamodb.ScanOutput:
		cc = append(cc, r.ConsumedCapacity)
	case *dynamodb.QueryOutput:
		cc = append(cc, r.ConsumedCapacity)
	case *dynamodb.BatchGetItemOutput:
		for i := range r.ConsumedCapacity {
			cc = append(cc, &r.ConsumedCapacity[i])
		}
	case *dynamodb.BatchWriteItemOutput:
		for i := range r.ConsumedCapacity {
			cc = append(cc, &r.ConsumedCapacity[i])
		}
	}
	var failed *types.ConditionalCheckFailedException
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[awsmiddleware.GetOperationName(ctx)]++
	if errors.As(err, &failed) {
		m.failedWrites++
	}
	for _, c := range cc {
		if c == nil {
			continue
		}
		// dynalite fills CapacityUnits and, for reads or writes alone,
		// Read/WriteCapacityUnits; the operation says which it is.
		r, w := aws.ToFloat64(c.ReadCapacityUnits), aws.ToFloat64(c.WriteCapacityUnits)
		if r == 0 && w == 0 {
			switch awsmiddleware.GetOperationName(ctx) {
			case "GetItem", "Query", "Scan", "BatchGetItem":
				r = aws.ToFloat64(c.CapacityUnits)
			default:
				w = aws.ToFloat64(c.CapacityUnits)
			}
		}
		m.read += r
		m.write += w
	}
	return out, md, err
}

// meterReading is a snapshot of a meter.
type meterReading struct {
	calls        int
	byOp         map[string]int
	read, write  float64
	failedWrites int
}

func (m *meter) reading() meterReading {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := meterReading{byOp: map[string]int{}, read: m.read, write: m.write, failedWrites: m.failedWrites}
	for op, n := range m.calls {
		r.byOp[op] = n
		r.calls += n
	}
	return r
}

// since is the work done between an earlier reading and r.
func (r meterReading) since(earlier meterReading) meterReading {
	d := meterReading{byOp: map[string]int{}, calls: r.calls - earlier.calls,
		read: r.read - earlier.read, write: r.write - earlier.write, failedWrites: r.failedWrites - earlier.failedWrites}
	for op, n := range r.byOp {
		if n-earlier.byOp[op] != 0 {
			d.byOp[op] = n - earlier.byOp[op]
		}
	}
	return d
}

// writeUnits counts the refused conditional writes at 1 WRU each (every
// item wxcentral writes is under 1 KB).
func (r meterReading) writeUnits() float64 { return r.write + float64(r.failedWrites) }
