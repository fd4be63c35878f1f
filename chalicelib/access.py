"""Scoped clients: which caller may do what, for which products (docs/security.md, "Scoped clients").

API Gateway decides *who* calls (an API key in the stage's usage plan, or an IAM identity that signed the request
with SigV4, by the stage's API_AUTH). This module decides what that caller may do, from the stage's CLIENT_SCOPES:
a JSON list, first matching entry wins:

    [{"client": "arn:aws:iam::123456789012:user/line-a-camera", "kind": "camera", "products": ["line-a-*"]},
     {"client": "arn:aws:sts::123456789012:assumed-role/mes-reader/*", "kind": "mes"},
     {"client": "k7x2abcd1e", "kind": "operator"}]

`client` is the caller's IAM ARN (requestContext.identity.userArn) or its API key's id (identity.apiKeyId), with
`*` matching any characters; `products` are product-id patterns the same way (default: every product). Empty
CLIENT_SCOPES: every caller API Gateway lets in may do everything, as before scoped clients.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .settings import ConfigurationError

# What each kind of client may do. upload: POST /uploads; read: GET /results/{product_id}, GET /inspections and
# GET /inspections/{id}/image; review: POST /inspections/{id}/review; reinspect: POST /reinspections.
KINDS = {
    "camera": frozenset({"upload", "read"}),  # camera stations and web pages that send photos
    "mes": frozenset({"read"}),  # MES systems: read verdicts only
    "operator": frozenset({"upload", "read", "review", "reinspect"}),  # reviewers' web app, operators' CLI
}
ACTIONS = frozenset().union(*KINDS.values())
ALL_PRODUCTS = ("*",)
_ENTRY_FIELDS = {"client", "kind", "products"}


class InvalidClientScopes(ConfigurationError):
    """CLIENT_SCOPES is not a list of well-formed entries: a deployment problem."""


class AccessDenied(Exception):
    """The caller may not do this; the message says why and what to do (answered as 403 AccessDenied)."""


def _pattern(text: str) -> re.Pattern:
    """`text` as a whole-string pattern where `*` matches any characters (as in IAM resource ARNs)."""
    return re.compile(".*".join(re.escape(part) for part in text.split("*")), re.DOTALL)


@dataclass(frozen=True)
class ClientScope:
    client: str
    kind: str
    products: tuple[str, ...] = ALL_PRODUCTS

    def matches(self, identity: str) -> bool:
        return bool(_pattern(self.client).fullmatch(identity))

    @property
    def every_product(self) -> bool:
        return "*" in self.products

    def covers(self, product_id: str) -> bool:
        return any(_pattern(pattern).fullmatch(product_id) for pattern in self.products)


def _entry(position: int, entry) -> ClientScope:
    where = f"CLIENT_SCOPES entry {position}"
    if not isinstance(entry, dict):
        raise InvalidClientScopes(f"{where} is not an object like "
                                  '{"client": "<IAM ARN or API key id>", "kind": "camera", "products": ["line-a-*"]}.')
    unknown = sorted(set(entry) - _ENTRY_FIELDS)
    if unknown:
        raise InvalidClientScopes(f"{where} has unknown field(s) {', '.join(unknown)}; use client, kind, products.")
    client = entry.get("client")
    if not isinstance(client, str) or not client.strip():
        raise InvalidClientScopes(f"{where} needs \"client\": the caller's IAM ARN or API key id (`*` matches any).")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise InvalidClientScopes(f"{where} ({client}): kind {kind!r} must be one of {', '.join(KINDS)}.")
    products = entry.get("products", list(ALL_PRODUCTS))
    if (not isinstance(products, list) or not products
            or not all(isinstance(pattern, str) and pattern.strip() for pattern in products)):
        raise InvalidClientScopes(f"{where} ({client}): products must be a non-empty list of product-id patterns "
                                  'such as ["line-a-*"] (leave it out for every product).')
    return ClientScope(client.strip(), kind, tuple(pattern.strip() for pattern in products))


def parse_client_scopes(text: str | None) -> tuple[ClientScope, ...]:
    """The entries of CLIENT_SCOPES, in order; () when it is empty (no scoping)."""
    if not text or not text.strip():
        return ()
    try:
        entries = json.loads(text)
    except ValueError as error:
        raise InvalidClientScopes(f"CLIENT_SCOPES is not JSON ({error}); see docs/security.md, \"Scoped clients\".") from None
    if not isinstance(entries, list):
        raise InvalidClientScopes("CLIENT_SCOPES must be a JSON list of {\"client\", \"kind\", \"products\"} objects.")
    return tuple(_entry(position, entry) for position, entry in enumerate(entries, start=1))


def client_scopes(env: dict) -> tuple[ClientScope, ...]:
    """The stage's CLIENT_SCOPES, checked; () when unset (read per request, like chalicelib.settings.Settings)."""
    return parse_client_scopes(env.get("CLIENT_SCOPES", ""))


def caller_identity(request_context: dict | None) -> str | None:
    """Who called, as API Gateway says: the IAM ARN that signed the request, else the API key's id."""
    identity = (request_context or {}).get("identity") or {}
    return identity.get("userArn") or identity.get("apiKeyId") or None


def _described(identity: str | None) -> str:
    if not identity:
        return "A request with no caller identity (no API key id, no IAM signature)"
    return f"The caller {identity}"


def authorize(scopes: tuple[ClientScope, ...], identity: str | None, action: str,
              product_id: str | None = None) -> None:
    """Nothing when the caller may do `action` (for `product_id`; None: a request not about one product, which
    needs a client allowed every product); AccessDenied saying why and what to do otherwise."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if not scopes:
        return
    scope = next((scope for scope in scopes if identity and scope.matches(identity)), None)
    if scope is None:
        raise AccessDenied(f"{_described(identity)} is not among the stage's clients (CLIENT_SCOPES); ask the "
                           "operator to add it with its kind (camera, mes or operator).")
    if action not in KINDS[scope.kind]:
        allowed = ", ".join(sorted(KINDS[scope.kind]))
        raise AccessDenied(f"A {scope.kind} client may not {action} (it may: {allowed}); use a client of a kind "
                           "that may, or ask the operator to change this one's kind in CLIENT_SCOPES.")
    if product_id is None:
        if not scope.every_product:
            raise AccessDenied(f"This client may {action} products matching {', '.join(scope.products)} only, "
                               "and this request is not about one product; ask per product "
                               "(GET /results/{product_id}).")
        return
    if not scope.covers(product_id):
        raise AccessDenied(f"This client may {action} products matching {', '.join(scope.products)} only, not "
                           f"{product_id!r}; use one of those product ids, or ask the operator to extend "
                           "its products in CLIENT_SCOPES.")
