package template

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// WebSocketAPI is an API Gateway WebSocket API: its routes, each served by
// the function its integration invokes, and its stage.
type WebSocketAPI struct {
	LogicalID string
	// RouteSelection is RouteSelectionExpression, e.g.
	// "$request.body.action".
	RouteSelection string
	// Stage is the StageName of the API's stage ("" when it has none), and
	// StageID its logical id.
	Stage   string
	StageID string
	Routes  []WebSocketRoute
}

// WebSocketRoute is one route of a WebSocket API.
type WebSocketRoute struct {
	Key      string // $connect, $disconnect, $default or an action
	Function string // logical id of the function its integration invokes
	// TwoWay is true when the route has a route response: the function's
	// answer to a frame is sent back to the client.
	TwoWay bool
}

// Route returns the route with the given key.
func (a WebSocketAPI) Route(key string) (WebSocketRoute, bool) {
	for _, r := range a.Routes {
		if r.Key == key {
			return r, true
		}
	}
	return WebSocketRoute{}, false
}

// StreamMapping is an event source mapping from a table's stream to a
// function.
type StreamMapping struct {
	LogicalID        string
	Function         string // logical id
	Table            string // logical id of the table whose StreamArn it reads
	StartingPosition string // LATEST or TRIM_HORIZON
	BatchSize        int    // 100 when not given, as Lambda's default
	// BatchWindow is MaximumBatchingWindowInSeconds.
	BatchWindow int
	Bisect      bool // BisectBatchOnFunctionError
	// MaxRetries is MaximumRetryAttempts; -1 (Lambda's default) retries
	// until the record expires.
	MaxRetries int
	// OnFailure is the logical id of DestinationConfig.OnFailure's
	// destination, if any.
	OnFailure string
}

// RefersTo reports whether the value n depends on the resource logicalID
// (through Ref, GetAtt or Sub).
func RefersTo(n *yaml.Node, logicalID string) bool {
	for _, r := range references(n) {
		if r.LogicalID == logicalID {
			return true
		}
	}
	return false
}

// parseRealtime builds WebSocketAPIs and StreamMappings once every resource
// is known, since they tie several resources together.
func (t *Template) parseRealtime() error {
	for _, id := range t.Order {
		r := t.Resources[id]
		switch {
		case r.Type == TypeGatewayAPI && strings.EqualFold(scalar(field(r.Properties, "ProtocolType")), "WEBSOCKET"):
			api, err := t.parseWebSocketAPI(r)
			if err != nil {
				return fmt.Errorf("resource %s: %w", id, err)
			}
			t.WebSocketAPIs = append(t.WebSocketAPIs, api)
		case r.Type == TypeEventSourceMapping:
			m, ok, err := t.parseStreamMapping(r)
			if err != nil {
				return fmt.Errorf("resource %s: %w", id, err)
			}
			if ok {
				t.StreamMappings = append(t.StreamMappings, m)
			}
		}
	}
	return nil
}

// isFunction reports whether r is a function: a SAM one, or the Lambda
// function the SAM transform makes of it (infra/iamcheck parses the
// transformed template).
func isFunction(r *Resource) bool {
	return r.Type == TypeFunction || r.Type == "AWS::Lambda::Function"
}

// refOf returns the logical id a Ref or GetAtt of n names, or "".
func refOf(n *yaml.Node) string {
	refs := references(n)
	if len(refs) != 1 {
		return ""
	}
	return refs[0].LogicalID
}

func (t *Template) parseWebSocketAPI(api *Resource) (WebSocketAPI, error) {
	a := WebSocketAPI{LogicalID: api.LogicalID, RouteSelection: scalar(field(api.Properties, "RouteSelectionExpression"))}
	twoWay := map[string]bool{} // route logical ids with a route response
	for _, id := range t.Order {
		r := t.Resources[id]
		if refOf(field(r.Properties, "ApiId")) != api.LogicalID {
			continue
		}
		switch r.Type {
		case TypeGatewayStage:
			a.Stage, a.StageID = scalar(field(r.Properties, "StageName")), id
		case TypeGatewayRouteResp:
			twoWay[refOf(field(r.Properties, "RouteId"))] = true
		}
	}
	for _, id := range t.Order {
		r := t.Resources[id]
		if r.Type != TypeGatewayRoute || refOf(field(r.Properties, "ApiId")) != api.LogicalID {
			continue
		}
		key := scalar(field(r.Properties, "RouteKey"))
		fn, err := t.routeFunction(r)
		if err != nil {
			return a, fmt.Errorf("route %s: %w", id, err)
		}
		a.Routes = append(a.Routes, WebSocketRoute{Key: key, Function: fn, TwoWay: twoWay[id]})
	}
	return a, nil
}

// routeFunction follows a route's Target ("integrations/${I}") to the
// function whose ARN the integration's IntegrationUri names.
func (t *Template) routeFunction(route *Resource) (string, error) {
	var integ *Resource
	for _, ref := range references(field(route.Properties, "Target")) {
		if r, ok := t.Resources[ref.LogicalID]; ok && r.Type == TypeGatewayIntegration {
			integ = r
		}
	}
	if integ == nil {
		return "", fmt.Errorf("its Target names no integration")
	}
	for _, ref := range references(field(integ.Properties, "IntegrationUri")) {
		if r, ok := t.Resources[ref.LogicalID]; ok && isFunction(r) {
			return ref.LogicalID, nil
		}
	}
	return "", fmt.Errorf("integration %s invokes no function of the template", integ.LogicalID)
}

func (t *Template) parseStreamMapping(r *Resource) (StreamMapping, bool, error) {
	p := r.Properties
	src := references(field(p, "EventSourceArn"))
	if len(src) != 1 || src[0].Attr != "StreamArn" {
		return StreamMapping{}, false, nil // a queue or another source
	}
	m := StreamMapping{
		LogicalID:        r.LogicalID,
		Function:         refOf(field(p, "FunctionName")),
		Table:            src[0].LogicalID,
		StartingPosition: scalar(field(p, "StartingPosition")),
		BatchSize:        100,
		MaxRetries:       -1,
		OnFailure:        refOf(field(field(field(p, "DestinationConfig"), "OnFailure"), "Destination")),
	}
	if fn, ok := t.Resources[m.Function]; !ok || !isFunction(fn) {
		return m, false, fmt.Errorf("FunctionName names no function of the template")
	}
	if tb, ok := t.Resources[m.Table]; !ok || tb.Type != TypeTable {
		return m, false, fmt.Errorf("EventSourceArn names no table of the template")
	}
	var err error
	for key, dst := range map[string]*int{"BatchSize": &m.BatchSize, "MaximumBatchingWindowInSeconds": &m.BatchWindow, "MaximumRetryAttempts": &m.MaxRetries} {
		if n := field(p, key); n != nil {
			if *dst, err = integer(n); err != nil {
				return m, false, fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	if n := field(p, "BisectBatchOnFunctionError"); n != nil {
		if m.Bisect, err = boolean(n); err != nil {
			return m, false, fmt.Errorf("BisectBatchOnFunctionError: %w", err)
		}
	}
	if !slices.Contains([]string{"LATEST", "TRIM_HORIZON"}, m.StartingPosition) {
		return m, false, fmt.Errorf("StartingPosition %q is not LATEST or TRIM_HORIZON", m.StartingPosition)
	}
	return m, true, nil
}
