// Package partner is the ISV side of the platform: partners and their apps,
// bindings of apps to tenants (through the platform registry or marketplace
// instance callbacks), each binding's visibility scope, and the signed,
// encrypted sync calls of PARTNER-PROTOCOL.md, recorded in an outbox in the
// same transaction as the change that causes them and delivered in order
// per binding by a worker that retries with backoff.
package partner

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"workbench/shared/directory"
	"workbench/shared/errs"
	"workbench/shared/keyring"
	"workbench/shared/tenant"
	"workbench/shared/text"
)

// Partner is an ISV. Its partner key authenticates its API calls (only a
// hash is kept); its access key signs the sync calls it receives (kept
// sealed, since signing needs it in the clear).
type Partner struct {
	PK        string    `dynamodbav:"pk" json:"-"`
	SK        string    `dynamodbav:"sk" json:"-"`
	ID        string    `dynamodbav:"id" json:"partnerId"`
	Name      string    `dynamodbav:"name" json:"name"`
	KeyHash   string    `dynamodbav:"keyHash" json:"-"`
	AccessKey string    `dynamodbav:"accessKey" json:"-"` // sealed
	CreatedAt time.Time `dynamodbav:"createdAt" json:"createdAt"`
}

// App is a partner's application.
type App struct {
	PK            string    `dynamodbav:"pk" json:"-"`
	SK            string    `dynamodbav:"sk" json:"-"`
	GSI1PK        string    `dynamodbav:"gsi1pk" json:"-"`
	GSI1SK        string    `dynamodbav:"gsi1sk" json:"-"`
	ID            string    `dynamodbav:"id" json:"appId"`
	PartnerID     string    `dynamodbav:"partnerId" json:"partnerId"`
	Name          string    `dynamodbav:"name" json:"name"`
	ProductionURL string    `dynamodbav:"productionUrl" json:"productionUrl"`
	PublicKey     string    `dynamodbav:"publicKey" json:"-"`
	ClientID      string    `dynamodbav:"clientId" json:"clientId"`
	ClientSecret  string    `dynamodbav:"clientSecret" json:"-"` // sealed
	CreatedAt     time.Time `dynamodbav:"createdAt" json:"createdAt"`
}

// Binding states and sources.
const (
	StateActive   = "active"
	StateExpired  = "expired"
	StateReleased = "released"

	SourceRegistry    = "registry"
	SourceMarketplace = "marketplace"
)

// Binding is an app bound to a tenant, with its visibility scope and the
// members and departments the scope resolved to when it last changed (what
// the partner has been told, so that changes can be diffed).
type Binding struct {
	PK            string     `dynamodbav:"pk" json:"-"`
	SK            string     `dynamodbav:"sk" json:"-"`
	GSI1PK        string     `dynamodbav:"gsi1pk,omitempty" json:"-"` // "BOUND" unless released
	GSI1SK        string     `dynamodbav:"gsi1sk,omitempty" json:"-"`
	TenantID      string     `dynamodbav:"tenantId" json:"tenantId"`
	TenantCode    string     `dynamodbav:"tenantCode" json:"-"`
	AppID         string     `dynamodbav:"appId" json:"appId"`
	InstanceID    string     `dynamodbav:"instanceId" json:"instanceId"`
	OrderID       string     `dynamodbav:"orderId,omitempty" json:"orderId,omitempty"`
	Source        string     `dynamodbav:"source" json:"source"`
	State         string     `dynamodbav:"state" json:"state"`
	ExpireTime    *time.Time `dynamodbav:"expireTime,omitempty" json:"expireTime,omitempty"`
	BoundAt       time.Time  `dynamodbav:"boundAt" json:"boundAt"`
	UpdatedAt     time.Time  `dynamodbav:"updatedAt" json:"updatedAt"`
	DepartmentIDs []string   `dynamodbav:"departmentIds" json:"departmentIds"`
	MemberIDs     []string   `dynamodbav:"memberIds" json:"memberIds"`
	Users         []string   `dynamodbav:"users" json:"-"`
	Orgs          []string   `dynamodbav:"orgs" json:"-"`
	Seq           int        `dynamodbav:"seq" json:"-"`
	// EventCursor is the id of the last directory event applied.
	EventCursor string `dynamodbav:"eventCursor" json:"-"`
}

// Department is a directory department as the sync calls see it.
type Department struct {
	ID       string
	Name     string
	ParentID string
}

// Snapshot is a tenant's directory at one moment.
type Snapshot struct {
	Departments []Department
	Members     []directory.Member
}

// Directory reads a tenant's directory.
type Directory interface {
	Snapshot(ctx context.Context, tenantID string) (Snapshot, error)
}

// DirectoryEvents reads the directory's outbox of changes.
type DirectoryEvents interface {
	Events(ctx context.Context, tenantID, after string, limit int) ([]directory.Event, error)
}

// Tenants finds tenants by code.
type Tenants interface {
	Get(ctx context.Context, code string) (tenant.Tenant, error)
}

// Trigger asks the delivery worker to deliver a binding's calls now. It is
// best effort: the scheduled sweep picks up whatever a lost trigger left.
type Trigger interface {
	Kick(ctx context.Context, keys []BindingKey)
}

// BindingKey names a binding.
type BindingKey struct {
	TenantID string `json:"tenantId"`
	AppID    string `json:"appId"`
}

// Service carries out the partner use cases.
type Service struct {
	Store     Store
	Directory Directory
	Events    DirectoryEvents
	Tenants   Tenants
	Keys      *keyring.Keyring
	Trigger   Trigger
	// LoginURL is the tenants' login address template ("{tenant}" is the
	// tenant code); its host is the tenant's domainName in tenantSync.
	LoginURL string
	Now      func() time.Time
	// TestFlag is sent as testFlag in every body (1 = debug).
	TestFlag int
	// EventSettle is how old a directory event must be before it is
	// applied; DefaultEventSettle when zero.
	EventSettle time.Duration
}

// Created is what the operator gets back for a new partner. The keys are
// shown once.
type Created struct {
	PartnerID  string `json:"partnerId"`
	Name       string `json:"name"`
	PartnerKey string `json:"partnerKey"`
	AccessKey  string `json:"accessKey"`
}

func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func partnerAAD(id string) string       { return "partner|" + id + "|accessKey" }
func appSecretAAD(id string) string     { return "app|" + id + "|clientSecret" }
func callAAD(pk, sk string) string      { return "call|" + pk + "|" + sk }
func extensionAAD(pk, sk string) string { return "extension|" + pk + "|" + sk }

func normalizeName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	if err := text.Line(field, name); err != nil {
		return "", err
	}
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return "", errs.Invalidf(field, "invalid_name", "%s is required", field)
	}
	if n > 64 {
		return "", errs.Invalidf(field, "invalid_name", "%s must be at most 64 characters", field)
	}
	return name, nil
}

// CreatePartner adds a partner and returns its keys.
func (s *Service) CreatePartner(ctx context.Context, name string) (Created, error) {
	name, err := normalizeName("name", name)
	if err != nil {
		return Created{}, err
	}
	id := newID(s.Now())
	key := "wbp_" + id + "_" + randomToken(32)
	access := randomToken(32)
	p := Partner{
		PK: partnerPK(id), SK: "PARTNER", ID: id, Name: name, KeyHash: hashKey(key),
		AccessKey: s.Keys.Seal(access, partnerAAD(id)), CreatedAt: s.Now().UTC(),
	}
	if err := s.Store.PutPartner(ctx, p); err != nil {
		return Created{}, err
	}
	return Created{PartnerID: id, Name: name, PartnerKey: key, AccessKey: access}, nil
}

// partnerIDOf returns the partner id a key ("wbp_<id>_<secret>") names,
// unchecked.
func partnerIDOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "wbp_")
	id, _, ok2 := strings.Cut(rest, "_")
	return id, ok && ok2 && id != ""
}

// AuthenticatePartner returns the partner whose key this is.
func (s *Service) AuthenticatePartner(ctx context.Context, key string) (Partner, error) {
	bad := errs.E(errs.Unauthenticated, "invalid_partner_key", "a valid partner key is required (Authorization: Bearer <partnerKey>)")
	id, ok := partnerIDOf(key)
	if !ok {
		return Partner{}, bad
	}
	p, err := s.Store.GetPartner(ctx, id)
	if errs.KindOf(err) == errs.NotFound {
		return Partner{}, bad
	}
	if err != nil {
		return Partner{}, err
	}
	if subtle.ConstantTimeCompare([]byte(hashKey(key)), []byte(p.KeyHash)) != 1 {
		return Partner{}, bad
	}
	return p, nil
}

// RegisterInput is an app registration.
type RegisterInput struct {
	Name          string `json:"name"`
	ProductionURL string `json:"productionUrl"`
	PublicKey     string `json:"publicKey"`
}

// Registered is what a partner gets back for a new app.
type Registered struct {
	AppID         string `json:"appId"`
	ClientID      string `json:"clientId"`
	Name          string `json:"name"`
	ProductionURL string `json:"productionUrl"`
}

// RegisterApp adds an app of p. The client secret is generated here and
// never returned: the partner receives it RSA-encrypted in applicationSync.
func (s *Service) RegisterApp(ctx context.Context, p Partner, in RegisterInput) (Registered, error) {
	name, err := normalizeName("name", in.Name)
	if err != nil {
		return Registered{}, err
	}
	u, err := NormalizeProductionURL("productionUrl", in.ProductionURL)
	if err != nil {
		return Registered{}, err
	}
	if _, err := ParsePublicKey("publicKey", in.PublicKey); err != nil {
		return Registered{}, err
	}
	id := newID(s.Now())
	a := App{
		PK: appPK(id), SK: "APP", GSI1PK: "APPS", GSI1SK: id,
		ID: id, PartnerID: p.ID, Name: name, ProductionURL: u, PublicKey: strings.TrimSpace(in.PublicKey),
		ClientID:     "wbc_" + randomToken(12),
		ClientSecret: s.Keys.Seal(randomToken(32), appSecretAAD(id)),
		CreatedAt:    s.Now().UTC(),
	}
	if err := s.Store.PutApp(ctx, a); err != nil {
		return Registered{}, err
	}
	return Registered{AppID: id, ClientID: a.ClientID, Name: name, ProductionURL: u}, nil
}

// AppView is an app as a tenant's admin sees it.
type AppView struct {
	AppID         string   `json:"appId"`
	Name          string   `json:"name"`
	PartnerID     string   `json:"partnerId"`
	ProductionURL string   `json:"productionUrl"`
	Bound         bool     `json:"bound"`
	Binding       *Binding `json:"binding,omitempty"`
}

// ListApps returns every registered app and, for those bound to the
// tenant, the binding (released bindings count as unbound).
func (s *Service) ListApps(ctx context.Context, tenantID string) ([]AppView, error) {
	apps, err := s.Store.ListApps(ctx)
	if err != nil {
		return nil, err
	}
	bindings, err := s.Store.Bindings(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	byApp := map[string]Binding{}
	for _, b := range bindings {
		byApp[b.AppID] = b
	}
	out := make([]AppView, 0, len(apps))
	for _, a := range apps {
		v := AppView{AppID: a.ID, Name: a.Name, PartnerID: a.PartnerID, ProductionURL: a.ProductionURL}
		if b, ok := byApp[a.ID]; ok && b.State != StateReleased {
			b := b
			v.Bound, v.Binding = true, &b
		}
		out = append(out, v)
	}
	return out, nil
}

// rawObject returns the JSON object in raw, or {} when raw is empty.
func rawObject(raw string) json.RawMessage {
	if raw == "" {
		return json.RawMessage("{}")
	}
	return json.RawMessage(raw)
}
