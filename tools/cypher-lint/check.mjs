// Neo4j's own Cypher 5 parser and semantic analysis over statements given as JSON (a file, or stdin):
// {"labels": [...], "relationshipTypes": [...], "statements": [{"name", "dialect", "text", "params"}]}.
// Any error or warning (deprecations, unknown labels, undeclared parameters) fails the check.
import { readFileSync } from 'node:fs';
import { lintCypherQuery } from '@neo4j-cypher/language-support';

const SEVERITY = { 1: 'error', 2: 'warning', 3: 'information', 4: 'hint' };
// Must be flagged: proves the semantic analysis really ran (it swallows its own failures).
const CANARY = 'MATCH (n) RETURN undefinedVariable';

const source = process.argv[2] && process.argv[2] !== '-' ? process.argv[2] : 0;
const input = JSON.parse(readFileSync(source, 'utf8'));
const base = {
  labels: input.labels,
  relationshipTypes: input.relationshipTypes,
  defaultLanguage: 'CYPHER 5',
};

function diagnostics(text, params) {
  const { diagnostics: found } = lintCypherQuery(text, { ...base, parameters: params });
  return found.map((d) => `${SEVERITY[d.severity] ?? d.severity}: ${d.message}`);
}

if (diagnostics(CANARY, {}).length === 0) {
  console.error('cypher-lint: the semantic analysis flagged nothing in a broken statement; it did not run');
  process.exit(2);
}
let failed = 0;
for (const { name, dialect, text, params } of input.statements) {
  const found = diagnostics(text, params);
  if (found.length > 0) {
    failed += 1;
    console.error(`${name} [${dialect}]:\n  ${found.join('\n  ')}\n${text.trim()}\n`);
  }
}
const total = input.statements.length;
console.log(`cypher-lint: ${total - failed} of ${total} statements pass Neo4j's Cypher 5 front end`);
process.exit(failed > 0 ? 1 : 0);
