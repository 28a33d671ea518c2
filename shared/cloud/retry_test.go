package cloud

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/config"
	"workbench/shared/errs"
)

// A throttled call is retried by the SDK a bounded number of times, then
// reaches the caller as a transient failure (a 503, not a 500).
func TestClientsRetryThrottlingABoundedNumberOfTimes(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}`))
	}))
	defer srv.Close()
	env, err := Load(context.Background(), config.Map(map[string]string{"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": srv.URL}),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.DynamoDB.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k"}}})
	if got := calls.Load(); got != retryAttempts {
		t.Errorf("%d attempts, want %d", got, retryAttempts)
	}
	if errs.KindOf(err) != errs.Unavailable {
		t.Errorf("kind %v of %v, want unavailable", errs.KindOf(err), err)
	}
	// However long a dependency stays throttled, no wait outlasts the cap.
	retryer := env.AWS.Retryer()
	for attempt := 1; attempt <= 10; attempt++ {
		if d, err := retryer.RetryDelay(attempt, err); err != nil || d > retryMaxBackoff {
			t.Errorf("wait before attempt %d: %v %v, want at most %v", attempt+1, d, err, retryMaxBackoff)
		}
	}
}
