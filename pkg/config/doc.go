// Package config loads wxcentral's configuration: the secret documents of
// docs/secrets.md (from Secrets Manager, or a file for local use, behind a
// short in-memory cache) and the functions' environment variables.
//
// Validation errors name the offending field (`apps[1].secret: missing`)
// and never quote a value: the documents hold AppSecrets.
package config
