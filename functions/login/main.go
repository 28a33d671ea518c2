// Command login is the Lambda function that serves logins, sessions, the member's own password, admin password resets and login logs.
package main

import (
	"workbench/shared/stack/identityfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(identityfn.Login) }
