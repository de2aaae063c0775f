package database

// SetTenantCount returns how many session-level set_config statements the
// tenant-scoped connections have sent.
func SetTenantCount() int64 { return setTenantCount.Load() }
