package callback

// Test-only access for the external test package.
var (
	SealRawForTest   = sealRaw
	PlaintextForTest = plaintext
	PadForTest       = pad
)
