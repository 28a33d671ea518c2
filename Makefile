# Workbench. `make run` serves the whole stack on http://127.0.0.1:3000 (PORT=3100 for another port);
# `make test` runs every test. See README.md.

SHELL := /bin/bash
GO ?= go
PYTHON ?= python3
LOCAL := .local
VENV := $(LOCAL)/venv
BUILD := build
IAMCHECK := $(LOCAL)/iamcheck
AWSCALLS := $(LOCAL)/awscalls
PORT ?= 3000
GOFLAGS_LAMBDA := -trimpath -tags lambda.norpc -ldflags "-s -w"

# One line per function of template.yaml: LogicalId=directory under functions/.
FUNCTIONS := \
	PlatformFunction=platform \
	VerifyCodeFunction=verifycode \
	LoginFunction=login \
	MembersFunction=members \
	DirectoryFunction=directory \
	MemberImportsFunction=memberimports \
	MemberImportJobFunction=memberimportjob \
	SubscriptionFunction=subscription \
	ExpiryScanFunction=expiryscan \
	ChatSendFunction=chatsend \
	ChatFunction=chat \
	RocketReminderFunction=rocketreminder \
	ChatFanoutFunction=chatfanout \
	ApprovalsFunction=approvals \
	AnnouncementsFunction=announcements \
	CalendarFunction=calendar \
	CalendarReminderFunction=calendarreminder \
	PartnerFunction=partner \
	MarketplaceFunction=marketplace \
	PartnerSyncFunction=partnersync \
	RealtimeFunction=realtime \
	PushFunction=push

.PHONY: all run test bench coldstart lint build deploy clean deps iamcheck-deps

all: lint test

## run: start moto, create the template's tables and secrets, serve the API on 127.0.0.1:$(PORT) (default 3000; FRESH=1 starts empty)
run: deps
	@mkdir -p $(LOCAL)/bin
	$(GO) build -o $(LOCAL)/bin/workbench-local ./infra/local
	exec $(LOCAL)/bin/workbench-local $(if $(FRESH),-fresh) -addr 127.0.0.1:$(PORT)

## test: every unit and integration test (starts its own moto servers), then the IAM check
## of every AWS call the tests recorded against the template's policies
test: deps iamcheck-deps
	$(GO) vet ./...
	rm -rf $(AWSCALLS)
	WORKBENCH_AWS_CALLS=$(CURDIR)/$(AWSCALLS) $(GO) test -p 1 -count=1 -timeout 15m ./...
	$(GO) run ./infra/iamcheck -calls $(AWSCALLS) -node-modules $(IAMCHECK)/node_modules -unused fail

## iamcheck-deps: the IAM policy evaluator for infra/iamcheck (npm, pinned by its lock file)
## into .local/iamcheck. AGPL-3.0: a test-time tool, never part of a function.
iamcheck-deps:
	@if [ -d $(IAMCHECK)/node_modules ] && cmp -s infra/iamcheck/package-lock.json $(IAMCHECK)/package-lock.json; then :; else \
		command -v npm >/dev/null || { apt-get update && apt-get install -y nodejs npm; }; \
		mkdir -p $(IAMCHECK) && cp infra/iamcheck/package.json infra/iamcheck/package-lock.json $(IAMCHECK)/ && \
		npm ci --prefix $(IAMCHECK) --no-audit --no-fund --ignore-scripts; \
	fi

## bench: the benchmarks the issues ask for (BENCHTIME=20x for steadier times; the DynamoDB counts do not change)
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(or $(BENCHTIME),3x) -timeout 60m ./...

## coldstart: every function's cold start against a hello function, with the budget (N=9 runs each)
coldstart: deps
	$(GO) run ./infra/coldstart -n $(or $(N),9)

## lint: gofmt, go vet, golangci-lint and staticcheck (lint-go), cfn-lint on the SAM-transformed template, trivy's config scan (0 medium or higher)
lint: lint-tools lint-go
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@rm -rf $(LOCAL)/lint && mkdir -p $(LOCAL)/lint/templates
	cp template.yaml $(LOCAL)/lint/templates/template.yaml
	$(LINT_PYTHON) infra/template/transform.py template.yaml > $(LOCAL)/lint/templates/transformed.json
	$(CFN_LINT) -- $(LOCAL)/lint/templates/template.yaml $(LOCAL)/lint/templates/transformed.json
	@# trivy scans the SAM template (its SAM checks) and the transformed one
	@# (its CloudFormation checks), with the checks embedded in the binary
	@# (--skip-check-update: no download). Medium and up fail; the low ones
	@# left with the defaults are the AWS managed keys, so with
	@# CustomerManagedKeys=true nothing at all may remain.
	$(TRIVY_CONFIG) --exit-code 1 --severity MEDIUM,HIGH,CRITICAL $(LOCAL)/lint/templates
	@echo '[{"ParameterKey":"CustomerManagedKeys","ParameterValue":"true"},{"ParameterKey":"Stage","ParameterValue":"prod"}]' > $(LOCAL)/lint/params.json
	$(TRIVY_CONFIG) --exit-code 1 --cf-params $(LOCAL)/lint/params.json $(LOCAL)/lint/templates

# cfn-lint 1.x: the system python3's when it has one (it needs no network),
# else pinned in the virtualenv. trivy: built from the Go module proxy at a
# pinned version (its encoding/json/v2 needs GOEXPERIMENT=jsonv2 with Go
# 1.25 and 1.26).
CFN_LINT_VERSION := 1.51.0
TRIVY_VERSION := v0.74.0
TRIVY := $(LOCAL)/trivy/$(TRIVY_VERSION)/trivy
TRIVY_CONFIG = $(TRIVY) config --quiet --cache-dir $(LOCAL)/trivy-cache --skip-check-update
LINT_PYTHON = $(shell if $(PYTHON) -c 'import cfnlint.version as v, sys; sys.exit(0 if v.__version__.startswith("1.") else 1)' 2>/dev/null; then echo $(PYTHON); else echo $(VENV)/bin/python; fi)
CFN_LINT = $(LINT_PYTHON) -c 'import sys; from cfnlint.runner import main; sys.exit(main())'

## lint-go: golangci-lint's default linters (.golangci.yml) and staticcheck, both pinned and
## built from the Go module proxy into .local/bin; quick enough for CI, unlike trivy
GOLANGCI_LINT_VERSION := v2.15.0
STATICCHECK_VERSION := v0.8.2
GOLANGCI_LINT := $(LOCAL)/bin/golangci-lint
STATICCHECK := $(LOCAL)/bin/staticcheck

.PHONY: lint-go lint-go-tools
lint-go: lint-go-tools
	$(GOLANGCI_LINT) run --max-issues-per-linter 0 --max-same-issues 0 ./...
	$(STATICCHECK) ./...

# Installs each tool when it is missing or of another version.
lint-go-tools:
	@mkdir -p $(LOCAL)/bin
	@$(GOLANGCI_LINT) version 2>/dev/null | grep -q 'version $(GOLANGCI_LINT_VERSION:v%=%) ' || { \
		echo "installing golangci-lint $(GOLANGCI_LINT_VERSION)"; \
		GOBIN=$(CURDIR)/$(LOCAL)/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); }
	@$(STATICCHECK) -version 2>/dev/null | grep -q '($(STATICCHECK_VERSION:v%=%))' || { \
		echo "installing staticcheck $(STATICCHECK_VERSION)"; \
		GOBIN=$(CURDIR)/$(LOCAL)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); }

.PHONY: lint-tools
lint-tools: $(TRIVY)
	@if ! $(LINT_PYTHON) -c 'import cfnlint' 2>/dev/null; then \
		echo "installing cfn-lint $(CFN_LINT_VERSION) into $(VENV)"; \
		[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV); \
		$(VENV)/bin/pip install --quiet 'cfn-lint==$(CFN_LINT_VERSION)'; \
	fi

$(TRIVY):
	@mkdir -p $(@D)
	GOEXPERIMENT=jsonv2 GOBIN=$(abspath $(@D)) $(GO) install github.com/aquasecurity/trivy/cmd/trivy@$(TRIVY_VERSION)

## deps: moto[server] for the local stack and the tests (system python3 if it has it, else a virtualenv)
deps:
	@if [ -x $(VENV)/bin/python ] && $(VENV)/bin/python -c 'import moto, werkzeug' 2>/dev/null; then :; \
	elif $(PYTHON) -c 'import moto, werkzeug, sys; sys.exit(0 if moto.__version__.startswith("5.") else 1)' 2>/dev/null; then :; \
	else \
		echo "installing moto[server] into $(VENV)"; \
		command -v $(PYTHON) >/dev/null || { apt-get update && apt-get install -y python3 python3-venv; }; \
		$(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install --quiet 'moto[server]>=5.2,<6'; \
	fi

## build: every function as a static linux/arm64 bootstrap under build/<name>/
build:
	@for f in $(FUNCTIONS); do \
		dir=$${f#*=}; \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(GOFLAGS_LAMBDA) -o $(BUILD)/$$dir/bootstrap ./functions/$$dir || exit 1; \
	done
	@ls -l $(BUILD)/*/bootstrap

# sam build calls build-<LogicalId> with ARTIFACTS_DIR set (BuildMethod: makefile).
lambda = CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(GOFLAGS_LAMBDA) -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(1)
build-PlatformFunction: ; $(call lambda,platform)
build-VerifyCodeFunction: ; $(call lambda,verifycode)
build-LoginFunction: ; $(call lambda,login)
build-MembersFunction: ; $(call lambda,members)
build-DirectoryFunction: ; $(call lambda,directory)
build-MemberImportsFunction: ; $(call lambda,memberimports)
build-MemberImportJobFunction: ; $(call lambda,memberimportjob)
build-SubscriptionFunction: ; $(call lambda,subscription)
build-ExpiryScanFunction: ; $(call lambda,expiryscan)
build-ChatSendFunction: ; $(call lambda,chatsend)
build-ChatFunction: ; $(call lambda,chat)
build-RocketReminderFunction: ; $(call lambda,rocketreminder)
build-ChatFanoutFunction: ; $(call lambda,chatfanout)
build-ApprovalsFunction: ; $(call lambda,approvals)
build-AnnouncementsFunction: ; $(call lambda,announcements)
build-CalendarFunction: ; $(call lambda,calendar)
build-CalendarReminderFunction: ; $(call lambda,calendarreminder)
build-PartnerFunction: ; $(call lambda,partner)
build-MarketplaceFunction: ; $(call lambda,marketplace)
build-PartnerSyncFunction: ; $(call lambda,partnersync)
build-RealtimeFunction: ; $(call lambda,realtime)
build-PushFunction: ; $(call lambda,push)

## deploy: build with SAM and deploy (make deploy ENV=prod for the prod config of samconfig.toml)
deploy:
	sam build
	sam deploy --config-env $(or $(ENV),default)

clean:
	rm -rf $(BUILD)
