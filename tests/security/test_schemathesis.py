"""Property-based calls generated from the OpenAPI schema against a real `orbitask serve`, as a workspace member.

Both generation modes: positive (data the schema allows) and negative (data it forbids: wrong types, values
out of range, missing or unknown fields), by fuzzing and by the coverage phase's boundary values (a limit and
one past it, each type's edge cases). Bounded: a few examples per operation and mode. Every answer must be a
non-5xx and match the schema it documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.generation.meta import CoverageScenario
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.conftest import PASSWORD
from tests.servers import orbitask_server

# raw-body and multipart uploads are exercised by their own tests; logout would end the session under test
SKIPPED = r"^/api/v1/(imports/|cards/\{card_id\}/attachments$|auth/logout)"
OFF = {name: "0" for name in ("ORBITASK_RATE_LIMIT_LOGIN_PER_MINUTE", "ORBITASK_RATE_LIMIT_LOGIN_IP_PER_MINUTE",
                              "ORBITASK_RATE_LIMIT_SIGNUP_PER_MINUTE", "ORBITASK_RATE_LIMIT_API_PER_MINUTE",
                              "ORBITASK_RATE_LIMIT_API_IP_PER_MINUTE", "ORBITASK_LOGIN_BACKOFF_AFTER")}
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 5}
# Negative data for an operation whose only inputs are fixed here (ids) or absent: nothing is left to negate.
NOTHING_TO_NEGATE = {"GET /api/v1/healthz", "GET /api/v1/readyz", "GET /api/v1/instance"}  # no input at all


def _worth_a_call(case: schemathesis.Case) -> bool:
    """Leave out the coverage cases the router answers alike (a third of them): methods a path does not have
    (405) and mistyped path ids (422 from the id's parser)."""
    data = case.meta.phase.data if case.meta is not None else None
    scenario, where = getattr(data, "scenario", None), getattr(data, "parameter_location", None)
    return scenario != CoverageScenario.UNSPECIFIED_HTTP_METHOD and not (
        scenario == CoverageScenario.INCORRECT_TYPE and where == ParameterLocation.PATH)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """A served app with a workspace and one of each thing in it; a member's credentials; the things' ids."""
    data = tmp_path_factory.mktemp("schemathesis")
    with orbitask_server(data, env=OFF) as url, httpx.Client(base_url=url + "/api/v1", timeout=30) as c:
        def register(email: str) -> dict[str, str]:
            r = c.post("/auth/register", json={"email": email, "password": PASSWORD, "name": email[:5]})
            assert r.status_code == 201, r.text
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        def made(path: str, body: dict[str, Any], who: dict[str, str]) -> str:
            r = c.post(path, json=body, headers=who)
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

        owner, member = register("owner@example.com"), register("member@example.com")
        ws = c.get("/workspaces", headers=owner).json()["items"][0]["id"]
        invite = c.post(f"/workspaces/{ws}/invitations", json={"role": "member"}, headers=owner).json()["token"]
        assert c.post(f"/invitations/{invite}/accept", headers=member).status_code == 200
        ids = {"workspace_id": ws, "user_id": c.get("/me", headers=member).json()["id"]}
        ids["board_id"] = made(f"/workspaces/{ws}/boards", {"name": "B"}, owner)
        ids["list_id"] = made(f"/boards/{ids['board_id']}/lists", {"name": "L"}, owner)
        ids["card_id"] = made(f"/lists/{ids['list_id']}/cards", {"title": "C"}, owner)
        ids["label_id"] = made(f"/boards/{ids['board_id']}/labels", {"name": "bug", "color": "red"}, owner)
        ids["comment_id"] = made(f"/cards/{ids['card_id']}/comments", {"body": "first"}, member)
        ids["checklist_id"] = made(f"/cards/{ids['card_id']}/checklists", {"title": "Steps"}, owner)
        ids["item_id"] = made(f"/checklists/{ids['checklist_id']}/items", {"text": "one"}, owner)
        yield url, member, ids


@pytest.fixture(scope="module")
def api_schema(server: tuple[str, dict[str, str], dict[str, str]]) -> schemathesis.BaseSchema:
    url, _, _ = server
    return schemathesis.openapi.from_url(url + "/api/openapi.json").exclude(path_regex=SKIPPED)


def _operations(api_schema: schemathesis.BaseSchema) -> list[Any]:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 50, "the schema under test lost its operations"
    return operations


def _real_ids(operation: Any, ids: dict[str, str]) -> dict[str, str]:
    """Path parameters that name the world's things, so calls get past the 404 into the service.

    Not for DELETE: it would remove what the other operations use (DELETE gets generated ids)."""
    if operation.method.upper() == "DELETE":
        return {}
    return {p.name: ids[p.name] for p in operation.path_parameters if p.name in ids}


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=str)
def test_fuzzed_calls_conform_and_never_fail(
    api_schema: schemathesis.BaseSchema, server: tuple[str, dict[str, str], dict[str, str]], mode: GenerationMode
) -> None:
    _, member, ids = server
    failures: list[str] = []
    calls: list[int] = []
    operations = _operations(api_schema)
    for operation in operations:  # schemathesis' pytest plugin does not run on pytest 9: drive hypothesis here
        name = f"{operation.method.upper()} {operation.path}"

        @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=_real_ids(operation, ids)))
        def run(case: schemathesis.Case) -> None:
            calls.append(1)
            case.call_and_validate(headers=member, timeout=30, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            if not (mode.is_negative and name in NOTHING_TO_NEGATE):
                failures.append(f"{name}: no {mode} case could be generated")
        except (Exception, BaseExceptionGroup) as exc:  # collected: one report naming every failing operation
            failures.append(f"{name}: {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)
    assert len(calls) >= 2 * len(operations), len(calls)


def test_boundary_cases_conform_and_never_fail(
    api_schema: schemathesis.BaseSchema, server: tuple[str, dict[str, str], dict[str, str]]
) -> None:
    """The coverage phase, both modes: each declared bound, one past it, missing and mistyped inputs."""
    _, member, _ = server
    failures: list[str] = []
    calls = 0
    for operation in _operations(api_schema):
        config = api_schema.config.generation_for(operation=operation, phase="coverage")
        cases = api_schema.iter_coverage_cases(operation, generation_modes=list(EXAMPLES), generation_config=config)
        for case in filter(_worth_a_call, cases):
            calls += 1
            try:
                case.call_and_validate(headers=member, timeout=30, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")
                break  # one failure per operation is enough to report
    assert not failures, "\n\n".join(failures)
    assert calls > 15 * len(_operations(api_schema)), calls
