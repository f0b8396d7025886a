// Package shipcheck holds tests of what the module ships rather than of
// one package: the deployed functions and the wxcentral command link no
// test code, and the README's Go compiles as written.
package shipcheck
