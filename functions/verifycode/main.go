// Command verifycode is the Lambda function that sends SMS verification codes (POST /v1/auth/sms-codes).
package main

import (
	"workbench/shared/stack/identityfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(identityfn.VerifyCode) }
