// Package samtemplate reads wxcentral's template.yaml the way CloudFormation
// does - short-form intrinsic tags (!Ref, !Sub, !GetAtt, !If, ...) turned into
// their long JSON form - and exposes what the template tests check: resources,
// the IAM statements each principal receives (with SAM policy templates
// expanded from their published definitions), a rendering for one set of
// parameter values (Render), and a resource-specification validator.
//
// The tests in this package check template.yaml with the ecosystem's own
// tools and data, nothing outside the repository: its CloudFormation
// resources against goformation's resource specification (a module
// dependency); every parameter combination rendered per region, linted by
// cfn-lint in the regions issue 13 deploys to and translated by the SAM
// translator (testdata/samtranslate.py), with the least-privilege invariants
// run on the translated IAM; the table's key schema against pkg/dynamo; the
// alarms and the dashboard against pkg/metrics; and the sample events in
// events/. Without cfn-lint (`pip install cfn-lint`, which brings the
// translator) those checks skip, unless CI is set. Regenerate the signed
// callback events with
//
//	go test ./internal/samtemplate -run TestGeneratedEvents -update
package samtemplate
