"""Schemathesis with every check, over every operation, in every phase (examples,
coverage, fuzzing, stateful), against a live server: the API honours its
OpenAPI document, and the document is no looser than the API.

The configuration and hooks are tests/contract/ (the CLI can use them too);
the hooks hold the few rules JSON Schema cannot state. Deterministic: the same
cases every run.
"""

from pathlib import Path

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

from tests.conftest import serving

CONFIG = Path(__file__).parent / "contract" / "schemathesis.toml"
# Per operation in fuzzing (stateful steps too): about 2,500 cases in all, half a
# minute on SQLite.
MAX_EXAMPLES = 50


@pytest.fixture
def server_url(make_app):
    # /metrics is served (and documented) only when enabled: enabled, it is tested.
    # Thousands of requests: their log lines would only slow the run down.
    app = make_app(METRICS_ENABLED=True, LOG_LEVEL="WARNING")
    with serving(app) as url:
        yield url


def _config() -> SchemathesisConfig:
    config = SchemathesisConfig.from_path(CONFIG)
    config.update(seed=1, max_failures=None)
    config.projects.override.checks.update(included_check_names=["all"])
    config.projects.override.generation.update(
        max_examples=MAX_EXAMPLES, deterministic=True, database="none"
    )
    config.projects.override.update(workers=1)
    return config


def _run(url: str) -> tuple[list[str], set[str], set[str], set[str], list[str]]:
    """Failures, the operations and phases tested, the checks that ran, errors."""
    schema = schemathesis.openapi.from_url(
        f"{url}/api/v1/openapi.json", config=_config()
    )
    failures, tested, phases, checks, errors = [], set(), set(), set(), []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            if event.status != Status.SKIP:
                phases.add(event.phase.value)
                if event.label:  # stateful scenarios span operations: no label
                    tested.add(event.label)
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    checks.add(node.name)
                    if node.failure_info is not None:
                        failure = node.failure_info.failure
                        failures.append(
                            f"{failure.operation}: {failure.title} ({node.name})\n"
                            f"{failure.message}\n{node.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            errors.append(repr(event.exception))
    return failures, tested, phases, checks, errors


# Schemathesis' own strategies use `random` (its warning, not ours).
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
def test_api_honours_its_document_and_the_document_is_exact(server_url):
    document = schemathesis.openapi.from_url(f"{server_url}/api/v1/openapi.json")
    operations = {result.ok().label for result in document.get_all_operations()}

    failures, tested, phases, checks, errors = _run(server_url)

    assert errors == []
    assert failures == [], "\n\n".join(dict.fromkeys(failures))
    assert tested == operations
    assert phases == {"examples", "coverage", "fuzzing", "stateful"}
    # Every check ran; those that apply only to some responses had their turn.
    assert {
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "positive_data_acceptance",
        "negative_data_rejection",
        "missing_required_header",
        "ignored_auth",
        "unsupported_method",
        "allow_header_conformance",
        "use_after_free",
        "ensure_resource_availability",
    } <= checks, checks
