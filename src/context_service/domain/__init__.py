"""Pure domain: vocabulary, policy, entities, rendering, redaction, budgets. Standard library only."""
