// Package tokenclient is the read side of wxcentral for Go services: it
// hands out the access_token and JS-SDK tickets that functions/refresh keeps
// in DynamoDB, and reports tokens WeChat rejected.
//
// Reads are cached in memory for at most credential.MaxCacheAge and never
// past expires_at - credential.ReaderMargin; concurrent misses of one key
// share a single DynamoDB read; when DynamoDB fails, a cached value that is
// still usable keeps being served (the store is tried again every 5 s). A
// missing item is credential.ErrNotFound and an expired one
// credential.ErrUnavailable: a stale token is never returned.
//
// When WeChat answers 40001/40014/42001, Invalidate asks the refresh
// function for a coordinated forced refresh (docs/refresh.md) through an
// Invalidator; Do wraps a call so that it is retried once with the new
// token, and Call/SendCustomMessage/UserInfo are WeChat API calls built on
// Do.
//
// Wiring in a Lambda:
//
//	store := dynamo.NewCredentialStore(dynamodb.NewFromConfig(cfg), os.Getenv("TABLE_NAME"))
//	tc := tokenclient.New(tokenclient.NewStoreReader(store),
//		tokenclient.WithInvalidator(lambdainvoke.New(lambda.NewFromConfig(cfg), refreshFn)))
//	err := tc.SendCustomMessage(ctx, appid, wechat.TextMessage(openid, "hello"))
//
// In unit tests of code that takes a *Client, build the client over a
// tokenclienttest.Reader holding the credentials the test needs.
package tokenclient
