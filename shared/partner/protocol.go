package partner

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"

	"workbench/shared/directory"
)

// Call kinds and the sub-path each is posted to under the production URL.
const (
	KindTenantSync      = "tenantSync"
	KindApplicationSync = "applicationSync"
	KindAuthSync        = "authSync"
	KindSingleOrgSync   = "singleOrgSync"
	KindAllOrgSync      = "allOrgSync"
)

// SubPath returns the path appended to the production URL for kind.
func SubPath(kind string) string { return "/produceAPI/v2/" + kind }

// Flags of sync bodies.
const (
	FlagDelete  = 0
	FlagAdd     = 1
	FlagModify  = 2
	FlagRevoked = 3 // authSync only: the user left the visibility scope
)

// MaxUsersPerCall is the largest userList of one authSync call.
const MaxUsersPerCall = 500

// TenantSync is the body of tenantSync (timeStamp is added when sent).
type TenantSync struct {
	TestFlag   int    `json:"testFlag"`
	InstanceID string `json:"instanceId"`
	OrderID    string `json:"orderId"`
	TenantID   string `json:"tenantId"`
	TenantCode string `json:"tenantCode"`
	Name       string `json:"name"`
	DomainName string `json:"domainName"`
	Flag       int    `json:"flag"`
}

// ApplicationSync is the body of applicationSync. ClientSecret is
// RSA-OAEP(SHA-256) encrypted with the app's public key, base64.
type ApplicationSync struct {
	TestFlag     int    `json:"testFlag"`
	InstanceID   string `json:"instanceId"`
	TenantID     string `json:"tenantId"`
	AppID        string `json:"appId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	Flag         int    `json:"flag"`
}

// User is one entry of authSync's userList. UserID (the member id) is
// ours, added so that a partner can follow a user whose account changes.
type User struct {
	UserID       string          `json:"userId"`
	UserName     string          `json:"userName"`
	Name         string          `json:"name"`
	OrgCode      string          `json:"orgCode"`
	Role         string          `json:"role"`
	Enable       string          `json:"enable"`
	Position     string          `json:"position"`
	EmployeeCode string          `json:"employeeCode"`
	Mobile       string          `json:"mobile"`
	Email        string          `json:"email"`
	Extension    json.RawMessage `json:"extension"`
}

// AuthSync is the body of authSync.
type AuthSync struct {
	TestFlag        int    `json:"testFlag"`
	InstanceID      string `json:"instanceId"`
	TenantID        string `json:"tenantId"`
	AppID           string `json:"appId"`
	Flag            int    `json:"flag"`
	CurrentSyncTime int64  `json:"currentSyncTime"`
	UserList        []User `json:"userList"`
}

// Org is one department in orgInfoList.
type Org struct {
	OrgCode    string `json:"orgCode"`
	OrgName    string `json:"orgName"`
	ParentCode string `json:"parentCode"`
}

// SingleOrgSync is the body of singleOrgSync.
type SingleOrgSync struct {
	TestFlag   int    `json:"testFlag"`
	TenantID   string `json:"tenantId"`
	OrgCode    string `json:"orgCode"`
	OrgName    string `json:"orgName"`
	ParentCode string `json:"parentCode"`
	Flag       int    `json:"flag"`
}

// AllOrgSync is the body of allOrgSync.
type AllOrgSync struct {
	TestFlag    int    `json:"testFlag"`
	InstanceID  string `json:"instanceId"`
	TenantID    string `json:"tenantId"`
	OrgInfoList []Org  `json:"orgInfoList"`
}

// scope is a visibility scope resolved against a directory snapshot.
type scope struct {
	users map[string]directory.Member
	orgs  map[string]Department
	order []Department // orgs, parents before children
}

// resolve expands departments to their sub-departments and collects the
// members of all of them plus the members named directly.
func resolve(snap Snapshot, deptIDs, memberIDs []string) scope {
	children := map[string][]Department{}
	deptByID := map[string]Department{}
	for _, d := range snap.Departments {
		children[d.ParentID] = append(children[d.ParentID], d)
		deptByID[d.ID] = d
	}
	sc := scope{users: map[string]directory.Member{}, orgs: map[string]Department{}}
	var walk func(d Department)
	walk = func(d Department) {
		if _, ok := sc.orgs[d.ID]; ok {
			return
		}
		sc.orgs[d.ID] = d
		sc.order = append(sc.order, d)
		kids := children[d.ID]
		sort.Slice(kids, func(i, j int) bool { return kids[i].ID < kids[j].ID })
		for _, k := range kids {
			walk(k)
		}
	}
	roots := append([]string(nil), deptIDs...)
	sort.Strings(roots)
	for _, id := range roots {
		if d, ok := deptByID[id]; ok {
			walk(d)
		}
	}
	named := map[string]bool{}
	for _, id := range memberIDs {
		named[id] = true
	}
	for _, m := range snap.Members {
		in := named[m.ID]
		for _, d := range m.DepartmentIDs {
			if _, ok := sc.orgs[d]; ok {
				in = true
			}
		}
		if in {
			sc.users[m.ID] = m
		}
	}
	return sc
}

func (sc scope) userIDs() []string {
	out := make([]string, 0, len(sc.users))
	for id := range sc.users {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func (sc scope) orgIDs() []string {
	out := make([]string, 0, len(sc.orgs))
	for id := range sc.orgs {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func (sc scope) orgList() []Org {
	out := make([]Org, 0, len(sc.order))
	for _, d := range sc.order {
		out = append(out, sc.org(d))
	}
	return out
}

func (sc scope) org(d Department) Org {
	parent := ""
	if _, ok := sc.orgs[d.ParentID]; ok {
		parent = d.ParentID
	}
	return Org{OrgCode: d.ID, OrgName: d.Name, ParentCode: parent}
}

// user builds a userList entry for m; ext is the member's extension JSON.
func (sc scope) user(m directory.Member, ext string) User {
	org := ""
	for _, d := range m.DepartmentIDs {
		if _, ok := sc.orgs[d]; ok {
			org = d
			break
		}
	}
	if org == "" && len(m.DepartmentIDs) > 0 {
		org = m.DepartmentIDs[0]
	}
	role := "user"
	if m.Role == directory.RoleAdmin {
		role = "admin"
	}
	enable := "false"
	if m.Enabled {
		enable = "true"
	}
	return User{
		UserID: m.ID, UserName: m.Account, Name: m.Name, OrgCode: org, Role: role, Enable: enable,
		Position: m.Position, EmployeeCode: m.EmployeeNo, Mobile: m.Mobile, Email: m.Email,
		Extension: rawObject(ext),
	}
}

// diff returns the ids in b that are not in a, both sorted.
func diff(a, b []string) []string {
	in := make(map[string]bool, len(a))
	for _, id := range a {
		in[id] = true
	}
	var out []string
	for _, id := range b {
		if !in[id] {
			out = append(out, id)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	return len(diff(a, b)) == 0 && len(diff(b, a)) == 0
}

// domainOf returns the host of the tenant's login address.
func domainOf(loginURL string) string {
	u, err := url.Parse(loginURL)
	if err != nil {
		return strings.TrimSpace(loginURL)
	}
	return u.Hostname()
}
