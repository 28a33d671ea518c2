package errs

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// transientCodes are the AWS error codes that mean "busy, try again": the
// SDK's retryer has already retried them, so what reaches a handler is a
// dependency under pressure, not a fault of the request or of ours.
var transientCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"ThrottlingException":                    true,
	"Throttling":                             true,
	"ThrottledException":                     true,
	"RequestLimitExceeded":                   true,
	"RequestThrottled":                       true,
	"RequestThrottledException":              true,
	"TooManyRequestsException":               true,
	"KMSThrottlingException":                 true,
	"TransactionConflictException":           true,
	"TransactionInProgressException":         true,
	"InternalServerError":                    true,
	"InternalErrorException":                 true,
	"InternalServiceError":                   true,
	"InternalFailure":                        true,
	"ServiceUnavailable":                     true,
	"RequestTimeout":                         true,
	"RequestTimeoutException":                true,
}

// transientReasons are the cancellation reasons of a DynamoDB transaction
// that a retry may clear.
var transientReasons = map[string]bool{
	"ThrottlingError":               true,
	"ProvisionedThroughputExceeded": true,
	"TransactionConflict":           true,
}

// Transient reports whether err is a failure that the same request may
// not meet again: an AWS call throttled or failing on the service's side
// (after the SDK's own retries), a transaction cancelled only by a
// conflict or throttling, or a deadline that passed while waiting.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		return cancelledTransiently(tce.CancellationReasons)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && (transientCodes[ae.ErrorCode()] || ae.ErrorFault() == smithy.FaultServer) {
		return true
	}
	var status interface{ HTTPStatusCode() int }
	return errors.As(err, &status) && (status.HTTPStatusCode() >= 500 || status.HTTPStatusCode() == 429)
}

// cancelledTransiently: some item met a passing condition (throttling, a
// conflict) and none failed for good (a condition, a validation error).
func cancelledTransiently(reasons []types.CancellationReason) bool {
	transient := false
	for _, r := range reasons {
		code := ""
		if r.Code != nil {
			code = *r.Code
		}
		switch {
		case transientReasons[code]:
			transient = true
		case code != "" && code != "None":
			return false
		}
	}
	return transient
}
