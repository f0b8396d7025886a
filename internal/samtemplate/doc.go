// Package samtemplate reads wxcentral's template.yaml the way CloudFormation
// does - short-form intrinsic tags (!Ref, !Sub, !GetAtt, !If, ...) turned into
// their long JSON form - and exposes what the template tests check: resources,
// the IAM statements each principal receives (with SAM policy templates
// expanded from their published definitions), and a JSON-Schema regexp engine
// that understands the one lookahead pattern of the SAM schema.
//
// The tests in this package validate template.yaml against the SAM JSON
// schema and policy-template list in ../shared/schemas/ (never copied into
// the repository), check its security and build invariants, the table's key
// schema against pkg/dynamo, the alarms against pkg/metrics, and keep the
// sample events in events/ valid. Regenerate the signed callback events with
//
//	go test ./internal/samtemplate -run TestGeneratedEvents -update
package samtemplate
