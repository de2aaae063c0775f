package schematype

import (
	"encoding/json"

	"github.com/google/uuid"
)

// Evidence is one reason two profiles may be the same person.
type Evidence struct {
	// Kind names the key or signal: EMAIL, PHONE, AUTH_USER_ID, NAME, EMAIL_DOMAIN, ...
	Kind string `json:"kind"`
	// Value is the shared or similar value.
	Value string `json:"value"`
	// Detail says how it was matched, for the reviewer.
	Detail string `json:"detail,omitempty"`
}

// MergeSnapshot is what a merge changed, kept so the merge can be undone.
type MergeSnapshot struct {
	// SurvivorBefore and SurvivorAfter are the survivor row (JSON) before and
	// right after the merge; unmerge restores a field only while it still
	// holds the merge's value, so later edits survive.
	SurvivorBefore json.RawMessage `json:"survivorBefore"`
	SurvivorAfter  json.RawMessage `json:"survivorAfter"`
	// Merged are the absorbed profiles and what they brought.
	Merged []MergedProfile `json:"merged"`
	// ActivityID is the profile.merged timeline entry written on the survivor.
	ActivityID uuid.UUID `json:"activityId"`
	// CandidateIDs are the duplicate candidates the merge closed.
	CandidateIDs []uuid.UUID `json:"candidateIds,omitempty"`
}

// MergedProfile is one absorbed profile: its row and the ids of everything
// that moved to the survivor.
type MergedProfile struct {
	Profile     json.RawMessage `json:"profile"`
	Aliases     []AliasState    `json:"aliases"`
	ActivityIDs []uuid.UUID     `json:"activityIds"`
	NoteIDs     []uuid.UUID     `json:"noteIds"`
}

// AliasState is an identity alias as it was before a merge.
type AliasState struct {
	ID      uuid.UUID `json:"id"`
	Kind    string    `json:"kind"`
	Value   string    `json:"value"`
	Primary bool      `json:"primary"`
	Source  string    `json:"source"`
}
