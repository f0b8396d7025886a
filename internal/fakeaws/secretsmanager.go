package fakeaws

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
	"time"
)

// secret is the current version of one Secrets Manager secret.
type secret struct {
	name      string
	arn       string
	value     string
	versionID string
	created   time.Time
}

// PutSecret stores value as the AWSCURRENT version of the secret named id,
// with a new VersionId each call (as PutSecretValue does).
func (s *Server) PutSecret(id, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secretSeq++
	s.secrets[id] = &secret{
		name:      id,
		arn:       secretARN(id),
		value:     value,
		versionID: uuidFrom(0x5ec2e7, s.secretSeq),
		created:   time.Now().UTC(),
	}
}

// DeleteSecret removes the secret named id; later reads get
// ResourceNotFoundException.
func (s *Server) DeleteSecret(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets, id)
}

// SecretARN returns the ARN the fake reports for the secret named id; a
// GetSecretValue by this ARN finds the secret too.
func (s *Server) SecretARN(id string) string { return secretARN(id) }

// SecretReads reports how many GetSecretValue calls asked for the secret
// named id (by name or ARN), including ones that failed.
func (s *Server) SecretReads(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.secretReads[id]
}

// FailSecretReads makes the next n GetSecretValue calls fail with HTTP 500
// InternalServiceError. The SDK retries 500s (3 attempts by default), so
// n=3 fails one default-configured call.
func (s *Server) FailSecretReads(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secretFails = n
}

// secretARN appends a stable 6-character suffix to the name, as Secrets
// Manager does.
func secretARN(name string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	h := fnv.New64a()
	h.Write([]byte(name))
	sum := h.Sum64()
	var suffix [6]byte
	for i := range suffix {
		suffix[i] = alphabet[sum%uint64(len(alphabet))]
		sum /= uint64(len(alphabet))
	}
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", Region, AccountID, name, suffix[:])
}

// secretName resolves a SecretId given as a name, a full ARN or a partial
// ARN (no random suffix) to the secret's name.
func secretName(id string) string {
	prefix := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:", Region, AccountID)
	name, ok := strings.CutPrefix(id, prefix)
	if !ok {
		return id
	}
	if i := strings.LastIndexByte(name, '-'); i >= 0 && secretARN(name[:i]) == id {
		return name[:i]
	}
	return name
}

type getSecretValueInput struct {
	SecretID     string `json:"SecretId"`
	VersionID    string `json:"VersionId"`
	VersionStage string `json:"VersionStage"`
}

type getSecretValueOutput struct {
	ARN           string      `json:"ARN"`
	Name          string      `json:"Name"`
	SecretString  string      `json:"SecretString"`
	VersionID     string      `json:"VersionId"`
	VersionStages []string    `json:"VersionStages"`
	CreatedDate   json.Number `json:"CreatedDate"`
}

func (s *Server) getSecretValue(w http.ResponseWriter, body []byte) {
	var in getSecretValueInput
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSONError(w, http.StatusBadRequest, "SerializationException", "request body is not a JSON object: "+err.Error())
		return
	}
	if in.SecretID == "" {
		writeJSONError(w, http.StatusBadRequest, "InvalidParameterException", "SecretId is required")
		return
	}
	name := secretName(in.SecretID)

	s.mu.Lock()
	s.secretReads[name]++
	fail := s.secretFails > 0
	if fail {
		s.secretFails--
	}
	sec := s.secrets[name]
	s.mu.Unlock()

	switch {
	case fail:
		writeJSONError(w, http.StatusInternalServerError, "InternalServiceError", "injected failure")
	case sec == nil:
		writeJSONError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	case in.VersionStage != "" && in.VersionStage != "AWSCURRENT":
		writeJSONError(w, http.StatusBadRequest, "ResourceNotFoundException",
			fmt.Sprintf("Secrets Manager can't find the specified secret value for staging label: %s", in.VersionStage))
	case in.VersionID != "" && in.VersionID != sec.versionID:
		writeJSONError(w, http.StatusBadRequest, "ResourceNotFoundException",
			fmt.Sprintf("Secrets Manager can't find the specified secret value for VersionId: %s", in.VersionID))
	default:
		writeJSON(w, getSecretValueOutput{
			ARN:           sec.arn,
			Name:          sec.name,
			SecretString:  sec.value,
			VersionID:     sec.versionID,
			VersionStages: []string{"AWSCURRENT"},
			CreatedDate:   epochSeconds(sec.created.Unix(), int64(sec.created.Nanosecond())),
		})
	}
}
