"""Unit tests for the scope policy: the packaged default, normalisation, operator extensions, fail-fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from context_service.adapters.policy_file import load_policy
from context_service.domain.errors import FailedPrecondition, InvalidArgument
from context_service.domain.policy import DEFAULT_TOOLS_TEXT, PolicyError, ScopePolicy
from context_service.domain.vocabulary import Phase, Scope, parse_phase

S = Scope
# 02 §2.2, row by row, in the table's order.
DEFAULT_TABLE: list[tuple[tuple[Phase, str], tuple[Scope, ...]]] = [
    (
        (Phase.DESIGN, "architect"),
        (S.CASE_HEADER, S.PLAN_HEADER, S.DECISIONS_GLOBAL, S.DEPS_DECISIONS, S.MILESTONES, S.SUMMARY_LAST),
    ),
    (
        (Phase.DESIGN, "developer"),
        (S.CASE_HEADER, S.PLAN_HEADER, S.DECISIONS_RELEVANT_ROLE, S.DEPS_RELEVANT, S.SUMMARY_LAST),
    ),
    (
        (Phase.DESIGN, "devops"),
        (S.CASE_HEADER, S.PLAN_HEADER, S.DECISIONS_RELEVANT_ROLE, S.DEPS_RELEVANT, S.MILESTONES),
    ),
    (
        (Phase.DESIGN, "qa"),
        (S.CASE_HEADER, S.PLAN_HEADER, S.DECISIONS_GLOBAL, S.SUBTASKS_ALL, S.MILESTONES, S.SUMMARY_LAST),
    ),
    ((Phase.DESIGN, "data"), (S.CASE_HEADER, S.PLAN_HEADER, S.DECISIONS_RELEVANT_ROLE, S.DEPS_RELEVANT)),
    (
        (Phase.BUILD, "architect"),
        (S.CASE_HEADER, S.PLAN_HEADER, S.DECISIONS_GLOBAL, S.DEPS_DECISIONS, S.SUBTASKS_ALL, S.MILESTONES),
    ),
    (
        (Phase.BUILD, "developer"),
        (S.CASE_HEADER, S.PLAN_HEADER, S.SUBTASKS_ROLE, S.DECISIONS_RELEVANT_ROLE, S.DEPS_RELEVANT),
    ),
    (
        (Phase.BUILD, "devops"),
        (S.CASE_HEADER, S.PLAN_HEADER, S.SUBTASKS_ROLE, S.DECISIONS_RELEVANT_ROLE, S.DEPS_RELEVANT),
    ),
    (
        (Phase.BUILD, "qa"),
        (S.CASE_HEADER, S.PLAN_HEADER, S.SUBTASKS_ALL_MIN, S.DECISIONS_GLOBAL_MIN, S.MILESTONES),
    ),
    ((Phase.BUILD, "data"), (S.CASE_HEADER, S.PLAN_HEADER, S.SUBTASKS_ROLE, S.DECISIONS_RELEVANT_ROLE)),
    ((Phase.TEST, "architect"), (S.CASE_HEADER, S.PLAN_HEADER, S.DECISIONS_GLOBAL_MIN, S.SUBTASKS_ALL_MIN)),
    ((Phase.TEST, "developer"), (S.CASE_HEADER, S.PLAN_HEADER, S.SUBTASKS_ROLE_MIN)),
    ((Phase.TEST, "devops"), (S.CASE_HEADER, S.PLAN_HEADER, S.SUBTASKS_ROLE_MIN)),
    (
        (Phase.TEST, "qa"),
        (S.CASE_HEADER, S.PLAN_HEADER, S.DECISIONS_GLOBAL, S.SUBTASKS_ALL, S.MILESTONES),
    ),
    ((Phase.DOC, "architect"), (S.CASE_HEADER, S.PLAN_HEADER, S.DECISIONS_GLOBAL, S.SUMMARY_LAST)),
    ((Phase.DOC, "qa"), (S.CASE_HEADER, S.PLAN_HEADER, S.SUBTASKS_ALL_MIN, S.MILESTONES)),
]
DEFAULT_ROLES = frozenset({"architect", "developer", "devops", "qa", "data"})

OPERATOR_POLICY = """\
phases:
  DESIGN:
    architect: [CASE_HEADER, PLAN_HEADER]
    product_owner: [CASE_HEADER, MILESTONES, SUMMARY_LAST]
  BUILD:
    product_owner: [CASE_HEADER]
aliases:
  PO: product_owner
"""


@pytest.fixture(scope="module")
def default_policy() -> ScopePolicy:
    """The packaged default policy, loaded once for the module."""
    return load_policy()


def write_policy(tmp_path: Path, text: str, name: str = "scopes.yaml") -> Path:
    """Write a policy document to a temporary file and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the packaged default -------------------------------------------------------------------------


def test_default_policy_grants_exactly_the_sixteen_pairs_of_the_table_in_order(
    default_policy: ScopePolicy,
) -> None:
    # Arrange
    expected = DEFAULT_TABLE

    # Act
    actual = list(default_policy.grants.items())

    # Assert
    assert actual == expected


@pytest.mark.parametrize(
    ("pair", "scopes"), DEFAULT_TABLE, ids=[f"{p.value}-{r}" for (p, r), _ in DEFAULT_TABLE]
)
def test_default_policy_scopes_for_each_pair_are_in_table_order(
    default_policy: ScopePolicy, pair: tuple[Phase, str], scopes: tuple[Scope, ...]
) -> None:
    # Arrange
    phase, role = pair

    # Act
    granted = default_policy.scopes_for(role, phase)

    # Assert
    assert granted == scopes


def test_default_policy_knows_the_five_canonical_roles(default_policy: ScopePolicy) -> None:
    # Act
    roles = default_policy.roles

    # Assert
    assert roles == DEFAULT_ROLES


def test_default_policy_uses_the_default_tools_sentence_for_every_role(default_policy: ScopePolicy) -> None:
    # Act
    texts = {role: default_policy.tools_text(role) for role in DEFAULT_ROLES}

    # Assert
    assert set(texts.values()) == {DEFAULT_TOOLS_TEXT}


# --- role and phase normalisation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("developer", "developer"),
        ("DEVELOPER", "developer"),
        ("Developer", "developer"),
        ("  developer  ", "developer"),
        ("\tQA\n", "qa"),
        ("Architect", "architect"),
        ("DevOps", "devops"),
        ("DATA", "data"),
        ("DEV", "developer"),
        ("dev", "developer"),
        (" Dev ", "developer"),
        ("ARCH", "architect"),
        ("arch", "architect"),
        ("TESTER", "qa"),
        ("tester", "qa"),
        ("OPS", "devops"),
        ("ops", "devops"),
        ("SRE", "devops"),
        ("sre", "devops"),
    ],
)
def test_role_input_is_trimmed_case_insensitive_and_aliases_map_to_canonical_names(
    default_policy: ScopePolicy, raw: str, canonical: str
) -> None:
    # Act
    role = default_policy.normalise_role(raw)

    # Assert
    assert role == canonical


@pytest.mark.parametrize("raw", ["wizard", "develop", "product_owner", "", "   ", "qa qa"])
def test_unknown_role_normalises_to_none(default_policy: ScopePolicy, raw: str) -> None:
    # Act
    role = default_policy.normalise_role(raw)

    # Assert
    assert role is None


def test_require_role_rejects_an_unknown_role_naming_the_known_roles(default_policy: ScopePolicy) -> None:
    # Act
    with pytest.raises(InvalidArgument) as caught:
        default_policy.require_role("wizard")

    # Assert
    assert caught.value.message == (
        "unknown role 'wizard'; known roles: architect, data, developer, devops, qa"
    )
    assert caught.value.field == "role"


@pytest.mark.parametrize("raw", ["", "   "])
def test_require_role_rejects_a_blank_role_as_required(default_policy: ScopePolicy, raw: str) -> None:
    # Act
    with pytest.raises(InvalidArgument, match="role is required"):
        default_policy.require_role(raw)


@pytest.mark.parametrize(
    ("raw", "phase"),
    [
        ("DESIGN", Phase.DESIGN),
        ("design", Phase.DESIGN),
        (" Build ", Phase.BUILD),
        ("test", Phase.TEST),
        ("DOC", Phase.DOC),
        ("doc", Phase.DOC),
        ("DOCS", Phase.DOC),
        ("docs", Phase.DOC),
        ("DOCUMENTATION", Phase.DOC),
        ("Documentation", Phase.DOC),
        ("  documentation\t", Phase.DOC),
    ],
)
def test_phase_input_is_case_insensitive_and_docs_aliases_map_to_doc(raw: str, phase: Phase) -> None:
    # Act
    parsed = parse_phase(raw)

    # Assert
    assert parsed is phase


@pytest.mark.parametrize("raw", ["", "REVIEW", "DOCUMENT", "BUILDING"])
def test_unknown_phase_parses_to_none(raw: str) -> None:
    # Act
    parsed = parse_phase(raw)

    # Assert
    assert parsed is None


# --- require_scopes ---------------------------------------------------------------------------------


def test_require_scopes_for_a_pair_without_policy_is_a_failed_precondition_naming_the_pair(
    default_policy: ScopePolicy,
) -> None:
    # Act
    with pytest.raises(FailedPrecondition) as caught:
        default_policy.require_scopes("developer", Phase.DOC)

    # Assert
    assert caught.value.message == "no scope policy for role 'developer' in phase DOC"


@pytest.mark.parametrize(
    ("pair", "scopes"), DEFAULT_TABLE, ids=[f"{p.value}-{r}" for (p, r), _ in DEFAULT_TABLE]
)
def test_require_scopes_returns_the_granted_scopes_for_a_pair_with_policy(
    default_policy: ScopePolicy, pair: tuple[Phase, str], scopes: tuple[Scope, ...]
) -> None:
    # Arrange
    phase, role = pair

    # Act
    granted = default_policy.require_scopes(role, phase)

    # Assert
    assert granted == scopes


@pytest.mark.parametrize(
    ("role", "phase"),
    [("developer", Phase.DOC), ("devops", Phase.DOC), ("data", Phase.DOC), ("data", Phase.TEST)],
)
def test_every_pair_missing_from_the_default_table_has_no_policy(
    default_policy: ScopePolicy, role: str, phase: Phase
) -> None:
    # Act
    granted = default_policy.scopes_for(role, phase)

    # Assert
    assert granted is None


# --- operator extensions ----------------------------------------------------------------------------


def test_operator_can_add_a_role_in_yaml_without_code_change(tmp_path: Path) -> None:
    # Arrange
    path = write_policy(tmp_path, OPERATOR_POLICY)

    # Act
    policy = load_policy(path)

    # Assert
    assert policy.roles == {"architect", "product_owner"}
    assert policy.require_scopes("product_owner", Phase.DESIGN) == (
        Scope.CASE_HEADER,
        Scope.MILESTONES,
        Scope.SUMMARY_LAST,
    )


@pytest.mark.parametrize("raw", ["PO", "po", " Po ", "product_owner", "PRODUCT_OWNER"])
def test_operator_can_add_an_alias_for_a_new_role_in_yaml(tmp_path: Path, raw: str) -> None:
    # Arrange
    policy = load_policy(write_policy(tmp_path, OPERATOR_POLICY))

    # Act
    role = policy.require_role(raw)

    # Assert
    assert role == "product_owner"


def test_builtin_aliases_of_roles_absent_from_an_operator_policy_are_not_offered(tmp_path: Path) -> None:
    # Arrange
    policy = load_policy(write_policy(tmp_path, OPERATOR_POLICY))

    # Act
    role = policy.normalise_role("DEV")

    # Assert
    assert role is None


def test_operator_role_without_an_entry_for_a_phase_has_no_policy_there(tmp_path: Path) -> None:
    # Arrange
    policy = load_policy(write_policy(tmp_path, OPERATOR_POLICY))

    # Act
    with pytest.raises(FailedPrecondition) as caught:
        policy.require_scopes("product_owner", Phase.TEST)

    # Assert
    assert caught.value.message == "no scope policy for role 'product_owner' in phase TEST"


def test_yaml_phase_aliases_are_accepted_as_phase_keys(tmp_path: Path) -> None:
    # Arrange
    path = write_policy(tmp_path, "phases:\n  documentation:\n    architect: [CASE_HEADER]\n")

    # Act
    policy = load_policy(path)

    # Assert
    assert dict(policy.grants) == {(Phase.DOC, "architect"): (Scope.CASE_HEADER,)}


def test_tools_listed_in_yaml_replace_the_default_tools_sentence_for_that_role(tmp_path: Path) -> None:
    # Arrange
    text = OPERATOR_POLICY + "tools:\n  product_owner: [jira_search, roadmap_read]\n"
    policy = load_policy(write_policy(tmp_path, text))

    # Act
    tools = policy.tools_text("product_owner")

    # Assert
    assert tools == (
        "You may call these tools approved for your role when necessary: jira_search, roadmap_read."
    )


def test_roles_without_tools_in_yaml_keep_the_default_tools_sentence(tmp_path: Path) -> None:
    # Arrange
    text = OPERATOR_POLICY + "tools:\n  product_owner: [jira_search]\n"
    policy = load_policy(write_policy(tmp_path, text))

    # Act
    tools = policy.tools_text("architect")

    # Assert
    assert tools == DEFAULT_TOOLS_TEXT


# --- fail fast --------------------------------------------------------------------------------------

INVALID_DOCUMENTS = [
    pytest.param("phases: [unclosed\n", "is not valid YAML", id="invalid-yaml"),
    pytest.param("", "policy must be a mapping", id="empty-file"),
    pytest.param("- DESIGN\n- BUILD\n", "policy must be a mapping", id="top-level-list"),
    pytest.param("aliases: {DEV: developer}\n", "non-empty 'phases'", id="no-phases"),
    pytest.param("phases: {}\n", "non-empty 'phases'", id="empty-phases"),
    pytest.param("phases:\n", "non-empty 'phases'", id="null-phases"),
    pytest.param(
        "phases:\n  DESIGN:\n    architect: [CASE_HEADER, EVERYTHING]\n",
        "DESIGN.architect: unknown scope 'EVERYTHING'",
        id="unknown-scope",
    ),
    pytest.param(
        "phases:\n  REVIEW:\n    architect: [CASE_HEADER]\n",
        "unknown phase 'REVIEW'",
        id="unknown-phase",
    ),
    pytest.param(
        "phases:\n  DESIGN:\n    architect: [CASE_HEADER]\naliases:\n  DEV: developer\n",
        "alias 'DEV' points at unknown role 'developer'",
        id="alias-to-unknown-role",
    ),
    pytest.param(
        "phases:\n  DESIGN:\n    architect: CASE_HEADER\n",
        "DESIGN.architect: expected a list of strings",
        id="scopes-not-a-list",
    ),
    pytest.param(
        "phases:\n  DESIGN: [CASE_HEADER]\n",
        "phase DESIGN: expected a mapping",
        id="phase-not-a-mapping",
    ),
    pytest.param(
        "phases:\n  DESIGN:\n    architect: [CASE_HEADER]\naliases: [DEV]\n",
        "'aliases' must be a mapping",
        id="aliases-not-a-mapping",
    ),
    pytest.param(
        "phases:\n  DESIGN:\n    architect: [CASE_HEADER]\ntools: [grep]\n",
        "'tools' must be a mapping",
        id="tools-not-a-mapping",
    ),
]


@pytest.mark.parametrize(("text", "problem"), INVALID_DOCUMENTS)
def test_invalid_policy_document_fails_fast_naming_the_file_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    # Arrange
    path = write_policy(tmp_path, text)

    # Act
    with pytest.raises(PolicyError) as caught:
        load_policy(path)

    # Assert
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_missing_policy_file_fails_fast_naming_the_file(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "does-not-exist.yaml"

    # Act
    with pytest.raises(PolicyError) as caught:
        load_policy(path)

    # Assert
    assert f"cannot read scope policy {path}" in str(caught.value)


def test_unreadable_policy_path_fails_fast_naming_the_path(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "a-directory"
    path.mkdir()

    # Act
    with pytest.raises(PolicyError) as caught:
        load_policy(path)

    # Assert
    assert f"cannot read scope policy {path}" in str(caught.value)


def test_policy_file_that_is_not_utf8_text_fails_fast_naming_the_file(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"phases:\n  DESIGN:\n    \xff\xfe: [CASE_HEADER]\n")

    # Act
    with pytest.raises(PolicyError) as caught:
        load_policy(path)

    # Assert
    assert str(path) in str(caught.value)
