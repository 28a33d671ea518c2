package stack

import (
	"workbench/shared/audit"
	"workbench/shared/cloud"
	"workbench/shared/config"
)

// auditLog is the admin audit log of AUDIT_TABLE, which the domain stores
// append to inside their transactions.
func auditLog(env *cloud.Env) (*audit.Log, error) {
	c := config.NewReader(env.Config)
	table := c.Required("AUDIT_TABLE")
	if err := c.Err(); err != nil {
		return nil, err
	}
	return &audit.Log{DB: env.DynamoDB, Table: table, Now: env.Now}, nil
}
