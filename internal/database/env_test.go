package database_test

import "os"

func testenvPostgresURL() string { return os.Getenv("RAPPORT_TEST_DATABASE_URL") }
