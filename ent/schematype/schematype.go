// Package schematype holds the Go types of the data model's JSON columns. It is
// a leaf package so that the schema, the generated code and the domain can
// all import it.
package schematype

// ExternalIDs are a profile's ids in legacy and partner systems.
type ExternalIDs struct {
	// McaV1ZaID is the profile's id in MCA v1 (South Africa).
	McaV1ZaID *string `json:"mcaV1ZaId,omitempty"`
	// McaV1UkID is the profile's id in MCA v1 (United Kingdom).
	McaV1UkID *string `json:"mcaV1UkId,omitempty"`
	// GolfRsaID is the profile's GolfRSA id.
	GolfRsaID *string `json:"golfRsaId,omitempty"`
}
