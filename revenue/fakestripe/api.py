"""Stripe's v1 HTTP semantics over a FakeStripe: auth, permissions, routing, list params and expansion."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .state import EVENT_RETENTION_SECONDS, FakeStripe, Fault, NotFound

API_VERSION = "2026-10-28.endive"

# Collection path under /v1/ -> object type.
COLLECTIONS = {
    "balance_transactions": "balance_transaction",
    "charges": "charge",
    "checkout/sessions": "checkout.session",
    "customers": "customer",
    "disputes": "dispute",
    "events": "event",
    "invoice_payments": "invoice_payment",
    "invoices": "invoice",
    "payment_intents": "payment_intent",
    "refunds": "refund",
    "subscriptions": "subscription",
}
COLLECTION_OF_TYPE = {object_type: collection for collection, object_type in COLLECTIONS.items()}

# Read permission a restricted key needs per collection; the matching `_write` permission implies it.
PERMISSIONS = {
    "balance_transactions": "rak_balance_transaction_source_read",
    "charges": "rak_charge_read",
    "checkout/sessions": "rak_checkout_session_read",
    "customers": "rak_customer_read",
    "disputes": "rak_dispute_read",
    "events": "rak_event_read",
    "invoice_payments": "rak_invoice_read",
    "invoices": "rak_invoice_read",
    "payment_intents": "rak_payment_intent_read",
    "refunds": "rak_charge_read",
    "subscriptions": "rak_subscription_read",
}

EXPANDABLE_FIELDS = frozenset(
    {
        "balance_transaction",
        "charge",
        "customer",
        "failure_balance_transaction",
        "invoice",
        "latest_charge",
        "latest_invoice",
        "payment_intent",
        "source",
        "subscription",
    }
)
MAX_EXPAND_DEPTH = 4
# An included list (an invoice's payments, a charge's refunds) embeds this many; more page from its url.
EMBEDDED_LIST_LIMIT = 10
MAX_EVENT_TYPES = 20
LIST_PARAMS = frozenset({"created", "ending_before", "expand", "limit", "starting_after"})


@dataclass
class ApiRequest:
    method: str
    path: str
    query: str = ""
    body: str = ""
    authorization: str | None = None
    idempotency_key: str | None = None
    stripe_account: str | None = None


@dataclass
class ApiResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.error: dict[str, Any] = {"type": type, "message": message}
        if code:
            self.error["code"] = code
        if param:
            self.error["param"] = param

    def response(self) -> ApiResponse:
        return ApiResponse(self.status, {"error": dict(self.error)})


def handle(state: FakeStripe, request: ApiRequest) -> ApiResponse:
    """Answer one /v1 request as Stripe would. Faults are served before anything else."""
    request_id = "req_" + secrets.token_hex(7)
    state.record_request(request.path)
    fault = state.take_fault(request.path)
    if fault is not None:
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status is not None:
            response = fault_response(fault)
            response.headers["Request-Id"] = request_id
            return response
    with state.api_request(request_id):
        try:
            response = _Call(state, request).dispatch()
        except ApiError as exc:
            response = exc.response()
    response.headers["Request-Id"] = request_id
    response.headers["Stripe-Version"] = API_VERSION
    return response


def fault_response(fault: Fault) -> ApiResponse:
    status = fault.status or 500
    if status == 429:
        error = ApiError(
            429,
            "Request rate limit exceeded. You can learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
    elif status >= 500:
        error = ApiError(status, "An unknown error occurred (injected by the fake).", type="api_error")
    else:
        error = ApiError(status, f"Injected fault with status {status}.")
    response = error.response()
    if fault.should_retry is not None:
        response.headers["Stripe-Should-Retry"] = "true" if fault.should_retry else "false"
    return response


# Form and query-string parameters

_PARAM_NAME = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_params(encoded: str) -> dict[str, Any]:
    """Decode Stripe's nested form encoding: `a[b]=1`, `expand[0]=x`, `expand[]=x` -> dicts and lists."""
    root: dict[str, Any] = {}
    for name, value in parse_qsl(encoded, keep_blank_values=True):
        match = _PARAM_NAME.match(name)
        if not match:
            raise ApiError(400, f"Invalid parameter name: {name}")
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part if part else str(len(node)), {})
            if not isinstance(child, dict):
                raise ApiError(400, f"Invalid parameter: {name} mixes a value and a hash", param=parts[0])
            node = child
        node[parts[-1] if parts[-1] else str(len(node))] = value
    return _lists_from_indexed_dicts(root)


def _lists_from_indexed_dicts(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _lists_from_indexed_dicts(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def _string(param: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ApiError(400, f"Invalid string: {param}", param=param)
    return value


def _integer(param: str, value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise ApiError(400, f"Invalid integer: {value}", param=param)


def _boolean(param: str, value: Any) -> bool:
    if value in ("true", "false"):
        return value == "true"
    raise ApiError(400, f"Invalid boolean: {value}", param=param)


def _string_list(param: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"Invalid array: {param}", param=param)
    return value


def _created_filter(value: Any) -> Callable[[dict[str, Any]], bool]:
    if isinstance(value, str):
        exact = _integer("created", value)
        return lambda obj: obj["created"] == exact
    if not isinstance(value, dict):
        raise ApiError(400, "Invalid created", param="created")
    bounds = {}
    for op, raw in value.items():
        if op not in ("gt", "gte", "lt", "lte"):
            raise ApiError(400, f"Received unknown parameter: created[{op}]", param=f"created[{op}]")
        bounds[op] = _integer(f"created[{op}]", raw)
    checks = {
        "gt": lambda c, b: c > b,
        "gte": lambda c, b: c >= b,
        "lt": lambda c, b: c < b,
        "lte": lambda c, b: c <= b,
    }
    return lambda obj: all(checks[op](obj["created"], bound) for op, bound in bounds.items())


# List filters: param -> builder(value) -> predicate(obj). Builders validate the value up front.
Filter = Callable[[str, Any], Callable[[dict[str, Any]], bool]]


def _equals(field_name: str) -> Filter:
    def build(param: str, value: Any) -> Callable[[dict[str, Any]], bool]:
        wanted = _string(param, value)
        return lambda obj: obj.get(field_name) == wanted

    return build


def _invoice_subscription(param: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    wanted = _string(param, value)

    def matches(invoice: dict[str, Any]) -> bool:
        details = (invoice.get("parent") or {}).get("subscription_details") or {}
        return details.get("subscription") == wanted

    return matches


def _invoice_payment_payment(param: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    if not isinstance(value, dict):
        raise ApiError(400, "Invalid hash", param="payment")
    if "type" not in value:
        raise _missing("payment[type]")
    wanted = {key: _string(f"payment[{key}]", v) for key, v in value.items()}
    return lambda payment: all(payment["payment"].get(key) == v for key, v in wanted.items())


def _subscription_status(param: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    wanted = _string(param, value)
    if wanted == "all":
        return lambda sub: True
    if wanted == "ended":
        return lambda sub: sub["status"] in ("canceled", "incomplete_expired")
    return lambda sub: sub["status"] == wanted


def _event_type(param: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    pattern = _string(param, value)
    return lambda event: fnmatch.fnmatchcase(event["type"], pattern)


def _event_types(param: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    types = set(_string_list(param, value))
    if len(value) > MAX_EVENT_TYPES:
        raise ApiError(400, f"You may pass at most {MAX_EVENT_TYPES} values for types.", param="types")
    return lambda event: event["type"] in types


def _fields(*names: str) -> dict[str, Filter]:
    return {name: _equals(name) for name in names}


FILTERS: dict[str, dict[str, Filter]] = {
    "balance_transaction": _fields("currency", "source", "type"),
    "charge": _fields("customer", "payment_intent"),
    "checkout.session": _fields("customer", "payment_intent", "status", "subscription"),
    "customer": _fields("email"),
    "dispute": _fields("charge", "payment_intent"),
    "event": {"type": _event_type, "types": _event_types},
    "invoice": {**_fields("customer", "status"), "subscription": _invoice_subscription},
    "invoice_payment": {**_fields("invoice", "status"), "payment": _invoice_payment_payment},
    "payment_intent": _fields("customer"),
    "refund": _fields("charge", "payment_intent"),
    "subscription": {**_fields("customer"), "status": _subscription_status},
}


def _expired(state: FakeStripe, event: dict[str, Any]) -> bool:
    return event["created"] < state.now() - EVENT_RETENTION_SECONDS


def _sort_key(obj: dict[str, Any]) -> tuple[int, str]:
    return obj["created"], obj["id"]


def _mask(key: str) -> str:
    match = re.match(r"^((?:sk|rk|pk)_(?:test|live)_)(.*)$", key)
    prefix, secret = (match.group(1), match.group(2)) if match else ("", key)
    return prefix + "*" * max(len(secret) - 4, 0) + secret[-4:]


class _Call:
    """One authenticated request; the caller holds the state's lock."""

    def __init__(self, state: FakeStripe, request: ApiRequest):
        self.state = state
        self.request = request
        self.key = ""
        self.permissions: frozenset[str] | None = None

    def dispatch(self) -> ApiResponse:
        self._authenticate()
        self._switch_account()
        method, path = self.request.method, self.request.path
        collection, rest = self._route(path)
        if collection is None:
            raise ApiError(404, f"Unrecognized request URL ({method}: {path}).")
        if method == "GET" and len(rest) <= 1:
            self._require(collection)
            params = parse_params(self.request.query)
            body = self._retrieve(collection, rest[0], params) if rest else self._list(collection, params)
            return ApiResponse(200, body)
        shape = tuple(["{id}", *rest[1:]] if rest else [])
        writer = WRITES.get((method, collection, shape))
        if writer is None:
            raise ApiError(404, f"Unrecognized request URL ({method}: {path}).")
        self._require(collection, write=True)
        replay_key = (self.key, path, self.request.idempotency_key or "")
        if self.request.idempotency_key:
            replayed = self.state.idempotent_response(replay_key)
            if replayed is not None:
                return ApiResponse(replayed.status, replayed.body, {"Idempotent-Replayed": "true"})
        params = parse_params(self.request.body)
        try:
            response = ApiResponse(200, writer(self, rest[0] if rest else None, params))
        except ApiError as exc:
            response = exc.response()
        if self.request.idempotency_key:
            self.state.remember_response(replay_key, response)
        return response

    # Auth

    def _authenticate(self) -> None:
        header = self.request.authorization or ""
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                credentials = base64.b64decode(credentials).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                credentials = ""
        elif scheme.lower() != "bearer":
            credentials = ""
        self.key = credentials.strip()
        if not self.key:
            raise ApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization "
                "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        status, self.permissions = self.state.key_status(self.key)
        if status == "revoked":
            raise ApiError(401, f"Expired API Key provided: {_mask(self.key)}", code="api_key_expired")
        if status != "valid":
            raise ApiError(401, f"Invalid API Key provided: {_mask(self.key)}")

    def _switch_account(self) -> None:
        """Connect: ``Stripe-Account`` reads a connected account with the platform's key."""
        account = self.request.stripe_account
        if not account:
            return
        connected = self.state.connected_accounts.get(account)
        if connected is None:
            raise ApiError(
                403,
                f"The provided key '{_mask(self.key)}' does not have access to account '{account}' (or that "
                "account does not exist). Application access may have been revoked.",
                code="account_invalid",
            )
        self.state = connected

    def _require(self, collection: str, write: bool = False) -> None:
        if self.permissions is None:
            return
        read = PERMISSIONS[collection]
        write_permission = read.removesuffix("_read") + "_write"
        if write_permission in self.permissions or (not write and read in self.permissions):
            return
        needed = write_permission if write else read
        raise ApiError(
            403,
            f"The provided key '{_mask(self.key)}' does not have the required permissions for this endpoint "
            f"on account '{self.state.account}'. Having the '{needed}' permission would allow this request "
            "to continue.",
        )

    @staticmethod
    def _route(path: str) -> tuple[str | None, list[str]]:
        if not path.startswith("/v1/"):
            return None, []
        segments = path.removeprefix("/v1/").rstrip("/").split("/")
        size = 2 if segments[0] == "checkout" else 1
        collection = "/".join(segments[:size])
        rest = segments[size:]
        if collection not in COLLECTIONS or any(not s for s in rest):
            return None, []
        return collection, rest

    # Reads

    def _list(self, collection: str, params: dict[str, Any]) -> dict[str, Any]:
        object_type = COLLECTIONS[collection]
        filters = FILTERS[object_type]
        for name in params:
            if name not in LIST_PARAMS and name not in filters:
                raise ApiError(400, f"Received unknown parameter: {name}", param=name)
        limit = _integer("limit", params.get("limit", "10"))
        if not 1 <= limit <= 100:
            bound = "greater than or equal to 1" if limit < 1 else "less than or equal to 100"
            raise ApiError(400, f"This value must be {bound}.", param="limit")
        expand = _string_list("expand", params.get("expand", []))
        predicates = [build(name, params[name]) for name, build in filters.items() if name in params]
        if "created" in params:
            predicates.append(_created_filter(params["created"]))
        if object_type == "subscription" and "status" not in params:
            # Canceled subscriptions are only listed with status=all (or ended/canceled).
            predicates.append(lambda sub: sub["status"] not in ("canceled", "incomplete_expired"))
        if object_type == "customer":
            predicates.append(lambda customer: not customer.get("deleted"))
        if object_type == "event":
            oldest = self.state.now() - EVENT_RETENTION_SECONDS
            predicates.append(lambda event: event["created"] >= oldest)
        items = [obj for obj in self.state.objects(object_type) if all(p(obj) for p in predicates)]
        items.sort(key=_sort_key, reverse=True)

        if "starting_after" in params and "ending_before" in params:
            raise ApiError(400, "You may only specify one of these parameters: ending_before, starting_after")
        if "starting_after" in params:
            cursor = self._cursor(object_type, "starting_after", params["starting_after"])
            older = [obj for obj in items if _sort_key(obj) < cursor]
            page, has_more = older[:limit], len(older) > limit
        elif "ending_before" in params:
            # The `limit` objects right after the cursor in time, still newest first; has_more says
            # whether even newer ones exist. auto_paging_iter() reverses each page to walk forward.
            cursor = self._cursor(object_type, "ending_before", params["ending_before"])
            newer = [obj for obj in items if _sort_key(obj) > cursor]
            page, has_more = newer[-limit:], len(newer) > limit
        else:
            page, has_more = items[:limit], len(items) > limit
        body = {
            "object": "list",
            "data": [self.state.render(obj) for obj in page],
            "has_more": has_more,
            "url": f"/v1/{collection}",
        }
        for path in expand:
            parts = path.split(".")
            if parts[0] != "data":
                raise ApiError(400, f"This property cannot be expanded ({path}).", param="expand")
            self._expand(body, parts, path)
        return body

    def _cursor(self, object_type: str, param: str, value: Any) -> tuple[int, str]:
        cursor = self.state.find(_string(param, value), object_type)
        if cursor is None or (object_type == "event" and _expired(self.state, cursor)):
            # Events older than 30 days are gone, cursors included.
            raise _no_such(object_type, value, param, 404)
        return _sort_key(cursor)

    def _retrieve(self, collection: str, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
        object_type = COLLECTIONS[collection]
        for name in params:
            if name != "expand":
                raise ApiError(400, f"Received unknown parameter: {name}", param=name)
        obj = self._find(object_type, object_id, "id", status=404)
        body = self.state.render(obj)
        for path in _string_list("expand", params.get("expand", [])):
            self._expand(body, path.split("."), path)
        return body

    def _find(self, object_type: str, object_id: str, param: str, status: int = 400) -> dict[str, Any]:
        obj = self.state.find(object_id, object_type)
        if obj is None or (object_type == "event" and _expired(self.state, obj)):
            raise _no_such(object_type, object_id, param, status)
        return obj

    def _expand(self, node: Any, parts: list[str], path: str) -> None:
        if len(parts) > MAX_EXPAND_DEPTH:
            raise ApiError(
                400, f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. Property: {path}"
            )
        self._expand_at(node, parts, path)

    def _expand_at(self, node: Any, parts: list[str], path: str) -> None:
        if node is None:
            return
        if isinstance(node, list):
            for item in node:
                self._expand_at(item, parts, path)
            return
        name, rest = parts[0], parts[1:]
        if not isinstance(node, dict):
            raise ApiError(400, f"This property cannot be expanded ({path}).", param="expand")
        includable = INCLUDABLE.get((node.get("object"), name))
        if includable is not None:
            node[name] = includable(self, node)
        elif name not in node:
            raise ApiError(400, f"This property cannot be expanded ({path}).", param="expand")
        elif name in EXPANDABLE_FIELDS and isinstance(node[name], str):
            target = self.state.find(node[name])
            if target is not None:
                self._require(COLLECTION_OF_TYPE[target["object"]])
                node[name] = self.state.render(target)
        elif not rest and not (name in EXPANDABLE_FIELDS and isinstance(node[name], dict | None)):
            raise ApiError(400, f"This property cannot be expanded ({path}).", param="expand")
        if rest:
            self._expand_at(node[name], rest, path)

    def _included_list(self, object_type: str, parent_id: str, url: str) -> dict[str, Any]:
        """The first few children, newest first, as Stripe embeds them; the rest page from ``url``."""
        self._require(COLLECTION_OF_TYPE[object_type])
        items = sorted(self.state.children(object_type, parent_id), key=_sort_key, reverse=True)
        data = [self.state.render(obj) for obj in items[:EMBEDDED_LIST_LIMIT]]
        return {"object": "list", "data": data, "has_more": len(items) > EMBEDDED_LIST_LIMIT, "url": url}

    # Writes

    def create_customer(self, _id: None, params: dict[str, Any]) -> dict[str, Any]:
        result = self.state.create_customer(
            email=_optional_string(params, "email"),
            name=_optional_string(params, "name"),
            metadata=_metadata(params, {}),
        )
        return self.state.get_object(result["customer"])

    def update_customer(self, customer_id: str, params: dict[str, Any]) -> dict[str, Any]:
        customer = self._find("customer", customer_id, "id", status=404)
        if customer.get("deleted"):
            raise _no_such("customer", customer_id, "id", 404)
        self.state.update_customer(
            customer_id,
            metadata=_metadata(params, customer["metadata"]),
            email=_optional_string(params, "email"),
        )
        return self.state.get_object(customer_id)

    def delete_customer(self, customer_id: str, params: dict[str, Any]) -> dict[str, Any]:
        customer = self._find("customer", customer_id, "id", status=404)
        if customer.get("deleted"):
            raise _no_such("customer", customer_id, "id", 404)
        self.state.delete_customer(customer_id)
        return self.state.get_object(customer_id)

    def create_payment_intent(self, _id: None, params: dict[str, Any]) -> dict[str, Any]:
        for required in ("amount", "currency"):
            if required not in params:
                raise _missing(required)
        customer = _optional_string(params, "customer")
        if customer is not None:
            found = self.state.find(customer, "customer")
            if found is None or found.get("deleted"):
                raise _no_such("customer", customer, "customer")
        confirm = _boolean("confirm", params.get("confirm", "false"))
        result = _builder_errors(
            lambda: self.state.create_payment(
                _integer("amount", params["amount"]),
                _string("currency", params["currency"]).lower(),
                customer=customer,
                metadata=_metadata(params, {}),
                description=_optional_string(params, "description"),
                captured=params.get("capture_method") != "manual",
                confirm=confirm,
            )
        )
        return self.state.get_object(result["payment_intent"])

    def update_payment_intent(self, pi_id: str, params: dict[str, Any]) -> dict[str, Any]:
        pi = self._find("payment_intent", pi_id, "id", status=404)
        if "metadata" in params:
            self.state.update_payment_intent(pi_id, _metadata(params, pi["metadata"]) or {})
        return self.state.get_object(pi_id)

    def confirm_payment_intent(self, pi_id: str, params: dict[str, Any]) -> dict[str, Any]:
        self._find("payment_intent", pi_id, "id", status=404)
        _builder_errors(lambda: self.state.confirm_payment_intent(pi_id))
        return self.state.get_object(pi_id)

    def create_refund(self, _id: None, params: dict[str, Any]) -> dict[str, Any]:
        if "charge" in params:
            charge_id = self._find("charge", _string("charge", params["charge"]), "charge")["id"]
        elif "payment_intent" in params:
            pi_id = _string("payment_intent", params["payment_intent"])
            charge_id = self._find("payment_intent", pi_id, "payment_intent")["latest_charge"]
            if charge_id is None:
                raise ApiError(400, f"PaymentIntent {pi_id} has no charge to refund.", param="payment_intent")
        else:
            raise _missing("charge")
        amount = _integer("amount", params["amount"]) if "amount" in params else None
        metadata = _metadata(params, {})
        reason = _optional_string(params, "reason")
        result = _builder_errors(
            lambda: self.state.refund(charge_id, amount=amount, metadata=metadata, reason=reason)
        )
        return self.state.get_object(result["refund"])

    def update_subscription(self, sub_id: str, params: dict[str, Any]) -> dict[str, Any]:
        sub = self._find("subscription", sub_id, "id", status=404)
        if "metadata" in params:
            self.state.update_subscription(sub_id, _metadata(params, sub["metadata"]) or {})
        return self.state.get_object(sub_id)


def _include_invoice_payments(call: _Call, invoice: dict[str, Any]) -> dict[str, Any]:
    url = f"/v1/invoice_payments?invoice={invoice['id']}"
    return call._included_list("invoice_payment", invoice["id"], url)


def _include_refunds(call: _Call, charge: dict[str, Any]) -> dict[str, Any]:
    url = f"/v1/charges/{charge['id']}/refunds"
    return call._included_list("refund", charge["id"], url)


# Fields Stripe leaves out unless expanded: (object type, field) -> builder of the embedded list.
INCLUDABLE: dict[tuple[str | None, str], Callable[[_Call, dict[str, Any]], dict[str, Any]]] = {
    ("invoice", "payments"): _include_invoice_payments,
    ("charge", "refunds"): _include_refunds,
}

WRITES: dict[tuple[str, str, tuple[str, ...]], Callable[[_Call, Any, dict[str, Any]], dict[str, Any]]] = {
    ("POST", "customers", ()): _Call.create_customer,
    ("POST", "customers", ("{id}",)): _Call.update_customer,
    ("DELETE", "customers", ("{id}",)): _Call.delete_customer,
    ("POST", "payment_intents", ()): _Call.create_payment_intent,
    ("POST", "payment_intents", ("{id}",)): _Call.update_payment_intent,
    ("POST", "payment_intents", ("{id}", "confirm")): _Call.confirm_payment_intent,
    ("POST", "refunds", ()): _Call.create_refund,
    ("POST", "subscriptions", ("{id}",)): _Call.update_subscription,
}


def _optional_string(params: dict[str, Any], name: str) -> str | None:
    return _string(name, params[name]) if name in params and params[name] != "" else None


def _metadata(params: dict[str, Any], current: dict[str, str]) -> dict[str, str] | None:
    """Stripe's metadata update: keys merge, `metadata[k]=` removes k, `metadata=` removes all."""
    value = params.get("metadata")
    if value is None:
        return None
    if value == "":
        return dict.fromkeys(current, "")
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ApiError(400, "Invalid hash", param="metadata")
    return value


def _missing(param: str) -> ApiError:
    return ApiError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def _no_such(object_type: str, object_id: str, param: str, status: int = 400) -> ApiError:
    return ApiError(status, f"No such {object_type}: '{object_id}'", code="resource_missing", param=param)


def _builder_errors(build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return build()
    except NotFound as exc:
        raise ApiError(400, str(exc), code="resource_missing", param=exc.object_type) from exc
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
