"""Schemathesis hooks for `scripts/fuzz`: how the fuzzer signs in, and what counts as a bug.

Loaded through SCHEMATHESIS_HOOKS. The server's URL comes from FUZZ_GRAPHQL_URL.

- Authentication: every generated request carries the bearer token of a freshly signed-up
  OWNER and that organization's `X-Organization-Id`. The fuzzer calls every mutation,
  `logOut` and `updateOrganization(status: …)` included, so the identity can lose its
  session or its organization mid-run; it is checked every few seconds and replaced by a
  new sign-up when it no longer works, so the rest of the run still reaches the
  resolvers.
- Checks: schemathesis's `not_a_server_error` treats every GraphQL error that carries a
  `path` as a server failure, which a `FORBIDDEN` or `NOT_FOUND` from a resolver is not.
  `tenantgate_server_fault` replaces it: a 5xx, an answer that is not a GraphQL JSON
  object, or any error whose `extensions.code` is `INTERNAL` (a masked server fault,
  logged with its request id) fails the run. Transport errors (a dropped connection, a
  timeout) fail it as schemathesis errors.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import threading
import uuid

import graphql
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

URL = os.environ["FUZZ_GRAPHQL_URL"]
PASSWORD = "fuzz password, long enough"

# Answers seen, by outcome: "ok" for data without errors, else the first error's code.
OUTCOMES: collections.Counter[str] = collections.Counter()
OUTCOMES_LOCK = threading.Lock()


@atexit.register
def _write_outcomes() -> None:
    path = os.environ.get("FUZZ_OUTCOMES")
    if path:
        with open(path, "w") as out:
            json.dump(dict(OUTCOMES.most_common()), out)


def _json_literals() -> st.SearchStrategy[graphql.ValueNode]:
    """Any JSON value as a GraphQL literal (object keys are GraphQL names in literals)."""
    leaves = st.one_of(
        st.just(graphql.NullValueNode()),
        st.booleans().map(nodes.Boolean),
        st.integers().map(nodes.Int),
        st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
        st.text(max_size=40).map(nodes.String),
    )
    names = st.from_regex(r"[_A-Za-z][_0-9A-Za-z]{0,15}", fullmatch=True)

    def containers(children):
        return st.one_of(
            st.lists(children, max_size=5).map(nodes.List),
            st.dictionaries(names, children, max_size=5).map(
                lambda fields: nodes.Object([
                    graphql.ObjectFieldNode(name=graphql.NameNode(value=key), value=value)
                    for key, value in fields.items()
                ])
            ),
        )

    return st.recursive(leaves, containers, max_leaves=40)


# schemathesis knows no `JSON` scalar and would leave every JSON argument (contact
# attributes, event properties, channel credentials) out of the generated queries.
schemathesis.graphql.scalar("JSON", _json_literals())


def _post(query: str, variables: dict | None = None, token: str | None = None,
          organization: str | None = None) -> dict:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if organization:
        headers["x-organization-id"] = organization
    answer = requests.post(URL, json={"query": query, "variables": variables or {}},
                           headers=headers, timeout=30)
    return answer.json()


def sign_up() -> tuple[str, str]:
    """A new user with a new organization: (access token, organization id)."""
    slug = "fuzz-" + uuid.uuid4().hex[:12]
    answer = _post(
        "mutation($input: SignUpInput!) { signUp(input: $input) {"
        " accessToken organization { id } } }",
        {"input": {"email": f"{slug}@example.com", "password": PASSWORD, "name": "Fuzz",
                   "organizationName": "Fuzz", "organizationSlug": slug}},
    )
    payload = (answer.get("data") or {}).get("signUp")
    if not payload or not payload.get("accessToken"):
        raise RuntimeError(f"signUp failed: {json.dumps(answer)}")
    return payload["accessToken"], payload["organization"]["id"]


def still_works(token: str, organization: str) -> bool:
    answer = _post("{ organization { id status } }", token=token, organization=organization)
    org = (answer.get("data") or {}).get("organization")
    # SUSPENDED and CANCELED organizations are read-only: mutations would stop at the guard.
    return not answer.get("errors") and bool(org) and org.get("status") in ("TRIAL", "ACTIVE", "PAST_DUE")


@schemathesis.auth(refresh_interval=3)
class SignedInMember:
    """Bearer token and organization of a signed-up OWNER, renewed when it stops working."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.identity: tuple[str, str] | None = None
        self.sign_ups = 0

    def get(self, case, ctx):
        with self.lock:
            if self.identity is None or not still_works(*self.identity):
                self.identity = sign_up()
                self.sign_ups += 1
            return self.identity

    def set(self, case, data, ctx):
        token, organization = data
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {token}"
        case.headers["X-Organization-Id"] = organization


@schemathesis.check
def tenantgate_server_fault(ctx, response, case):
    """No 5xx, always a GraphQL JSON object, and never an INTERNAL error code."""
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}: {response.content[:500]!r}")
    try:
        body = json.loads(response.content)
    except ValueError as error:
        raise AssertionError(
            f"HTTP {response.status_code} answered no JSON ({error}): {response.content[:500]!r}"
        )
    if not isinstance(body, dict) or not ("data" in body or "errors" in body):
        raise AssertionError(f"not a GraphQL response: {response.content[:500]!r}")
    errors = body.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    outcome = (first.get("extensions") or {}).get("code", "NO_CODE") if errors else "ok"
    with OUTCOMES_LOCK:
        OUTCOMES[f"{response.status_code} {outcome}"] += 1
    for error in errors:
        extensions = error.get("extensions") or {} if isinstance(error, dict) else {}
        if extensions.get("code") == "INTERNAL":
            raise AssertionError(
                f"INTERNAL error (request id {extensions.get('requestId')}): {json.dumps(error)}"
            )
