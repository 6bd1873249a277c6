"""A fake Stripe API: a real HTTP server on loopback that the tests start, so stripe-python and dj-stripe run for real.

It keeps Stripe objects in memory, answers the calls our code and dj-stripe make (customers, Checkout Sessions,
subscriptions, invoices, prices and products, billing portal sessions, events) with JSON shaped like Stripe's, and
records every request (method, path, decoded form parameters, headers) so a test can assert what was sent.

It also plays Stripe's side of the story: :meth:`FakeStripe.complete_checkout` turns a Checkout Session into a
subscription and :meth:`FakeStripe.event` makes the event Stripe would send (stored, so a re-fetch finds it), which
the test then signs with the stripe library's own helper and posts to the webhook.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_VERSION = "2026-05-27.dahlia"

# URL collection -> Stripe "object" value and id prefix.
COLLECTIONS: dict[str, tuple[str, str]] = {
    "customers": ("customer", "cus"),
    "checkout/sessions": ("checkout.session", "cs_test"),
    "subscriptions": ("subscription", "sub"),
    "subscription_items": ("subscription_item", "si"),
    "invoices": ("invoice", "in"),
    "prices": ("price", "price"),
    "products": ("product", "prod"),
    "billing_portal/sessions": ("billing_portal.session", "bps"),
    "events": ("event", "evt"),
    "payment_methods": ("payment_method", "pm"),
    "payment_intents": ("payment_intent", "pi"),
    "charges": ("charge", "ch"),
}


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding back into nested data: ``items[0][quantity]=3&metadata[org]=x``."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key) or [key]
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(result)


def _lists(node: Any) -> Any:
    """Dicts whose keys are 0, 1, 2... become lists (``items[0]``)."""
    if isinstance(node, dict):
        node = {key: _lists(value) for key, value in node.items()}
        if node and all(key.isdigit() for key in node):
            return [node[key] for key in sorted(node, key=int)]
    return node


class FakeStripe:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict]] = {name: {} for name in COLLECTIONS}
        self.requests: list[Request] = []
        self.account = {
            "id": "acct_" + secrets.token_hex(8),
            "object": "account",
            "type": "standard",
            "country": "US",
            "default_currency": "usd",
            "email": "billing@bizgaze.test",
            "business_profile": {"name": "BizGaze Connect", "url": None},
            "settings": {"branding": {"icon": None, "logo": None}, "dashboard": {"display_name": "BizGaze Connect"}},
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
            "livemode": False,
            "metadata": {},
        }
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                url = urlsplit(self.path)
                params = decode_form(body if self.command == "POST" else url.query)
                with fake._lock:
                    fake.requests.append(Request(self.command, url.path, params, dict(self.headers)))
                    status, payload = fake.route(self.command, url.path, params)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(8))
                self.send_header("Stripe-Version", API_VERSION)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- What tests read -------------------------------------------------------------------------------------------
    def calls(self, method: str, path: str) -> list[Request]:
        """Requests with this method whose path starts with ``path`` (``/v1/checkout/sessions``)."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method in ("POST", "DELETE")]

    # --- Building objects --------------------------------------------------------------------------------------------
    def new_id(self, collection: str) -> str:
        return f"{COLLECTIONS[collection][1]}_{secrets.token_hex(7)}"

    def _base(self, collection: str, **values: Any) -> dict:
        obj = {
            "id": values.pop("id", None) or self.new_id(collection),
            "object": COLLECTIONS[collection][0],
            "livemode": False,
            "created": int(time.time()),
            "metadata": {},
        }
        obj.update(values)
        self.objects[collection][obj["id"]] = obj
        return obj

    def add_price(self, price_id: str, *, unit_amount: int = 1900, name: str = "Plan") -> dict:
        product = self._base("products", name=name, active=True, description=None, type="service", images=[])
        return self._base(
            "prices",
            id=price_id,
            active=True,
            billing_scheme="per_unit",
            currency="usd",
            nickname=None,
            product=product["id"],
            recurring={"interval": "month", "interval_count": 1, "usage_type": "licensed", "aggregate_usage": None},
            tax_behavior="unspecified",
            type="recurring",
            unit_amount=unit_amount,
            unit_amount_decimal=str(unit_amount),
            lookup_key=None,
        )

    def add_customer(self, **values: Any) -> dict:
        return self._base(
            "customers",
            email=values.pop("email", None),
            name=values.pop("name", None),
            balance=0,
            currency=None,
            delinquent=False,
            description=None,
            discount=None,
            invoice_prefix=secrets.token_hex(4).upper(),
            invoice_settings={"custom_fields": None, "default_payment_method": None, "footer": None},
            default_source=None,
            preferred_locales=[],
            shipping=None,
            tax_exempt="none",
            **values,
        )

    def add_subscription(self, *, customer: str, price: str, quantity: int, status: str = "active") -> dict:
        now = int(time.time())
        sub_id = self.new_id("subscriptions")
        item = self._item(sub_id, price, quantity, now)
        return self._base(
            "subscriptions",
            id=sub_id,
            customer=customer,
            status=status,
            items={
                "object": "list",
                "data": [item],
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={sub_id}",
            },
            quantity=quantity,
            billing_cycle_anchor=now,
            cancel_at=None,
            cancel_at_period_end=False,
            canceled_at=None,
            collection_method="charge_automatically",
            currency="usd",
            current_period_start=now,
            current_period_end=now + 30 * 86400,
            days_until_due=None,
            default_payment_method=None,
            default_tax_rates=[],
            discount=None,
            ended_at=None,
            latest_invoice=None,
            pending_update=None,
            schedule=None,
            start_date=now,
            trial_end=None,
            trial_start=None,
        )

    def _item(self, sub_id: str, price: str, quantity: int, now: int) -> dict:
        return self._base(
            "subscription_items",
            subscription=sub_id,
            price=self.objects["prices"][price],
            quantity=quantity,
            current_period_start=now,
            current_period_end=now + 30 * 86400,
            tax_rates=[],
            billing_thresholds=None,
        )

    def add_invoice(self, *, subscription: str, paid: bool) -> dict:
        sub = self.objects["subscriptions"][subscription]
        amount = sum(i["price"]["unit_amount"] * i["quantity"] for i in sub["items"]["data"])
        invoice = self._base(
            "invoices",
            customer=sub["customer"],
            subscription=subscription,
            parent={"type": "subscription_details", "subscription_details": {"subscription": subscription}},
            status="paid" if paid else "open",
            paid=paid,
            amount_due=amount,
            amount_paid=amount if paid else 0,
            amount_remaining=0 if paid else amount,
            attempt_count=1,
            attempted=True,
            billing_reason="subscription_cycle",
            collection_method="charge_automatically",
            currency="usd",
            default_payment_method=None,
            lines={"object": "list", "data": [], "has_more": False, "url": "/v1/invoices/lines"},
            number=None,
            period_start=sub["current_period_start"],
            period_end=sub["current_period_end"],
            subtotal=amount,
            total=amount,
            hosted_invoice_url="https://invoice.stripe.test/i/" + secrets.token_hex(6),
        )
        sub["latest_invoice"] = invoice["id"]
        return invoice

    # --- Stripe's side of the story ----------------------------------------------------------------------------------
    def complete_checkout(self, session_id: str) -> tuple[dict, dict]:
        """The customer paid: the session gets a subscription with the price and quantity it was created with."""
        session = self.objects["checkout/sessions"][session_id]
        line = session["_line_items"][0]
        sub = self.add_subscription(customer=session["customer"], price=line["price"], quantity=int(line["quantity"]))
        sub["metadata"] = dict(session.get("subscription_data", {}).get("metadata", {}))
        session.update(status="complete", payment_status="paid", subscription=sub["id"])
        return session, sub

    def event(self, type_: str, obj: dict, *, previous_attributes: dict | None = None) -> dict:
        data: dict[str, Any] = {"object": {k: v for k, v in obj.items() if not k.startswith("_")}}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        return self._base(
            "events",
            api_version=API_VERSION,
            data=json.loads(json.dumps(data)),
            pending_webhooks=1,
            request={"id": None, "idempotency_key": None},
            type=type_,
        )

    # --- Routing -----------------------------------------------------------------------------------------------------
    def route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        if not path.startswith("/v1/"):
            return _missing(path)
        rest = path[len("/v1/") :]
        if rest == "account":  # the account of the API key (dj-stripe asks once per key)
            return 200, self.account
        for collection in sorted(COLLECTIONS, key=len, reverse=True):
            if rest == collection:
                if method == "POST":
                    return 200, self._create(collection, params)
                return 200, self._list(collection, params)
            if rest.startswith(collection + "/"):
                object_id = rest[len(collection) + 1 :]
                if "/" in object_id:  # a sub-list (a product's features): none here
                    object_id, _sub = object_id.split("/", 1)
                    if object_id not in self.objects[collection] or method != "GET":
                        return _missing(path)
                    return 200, {"object": "list", "data": [], "has_more": False, "url": path}
                obj = self.objects[collection].get(object_id)
                if obj is None:
                    return _missing(object_id)
                if method == "POST":
                    self._update(collection, obj, params)
                elif method == "DELETE":
                    self._delete(collection, obj)
                return 200, self._public(obj, params)
        return _missing(path)

    def _public(self, obj: dict, params: dict) -> dict:
        shown = {k: v for k, v in obj.items() if not k.startswith("_")}
        for path in params.get("expand", []) if isinstance(params.get("expand"), list) else []:
            key = path.split(".")[0]
            value = shown.get(key)
            if isinstance(value, str):
                for collection in self.objects.values():
                    if value in collection:
                        shown[key] = collection[value]
        return json.loads(json.dumps(shown))

    def _list(self, collection: str, params: dict) -> dict:
        found = [
            o
            for o in self.objects[collection].values()
            if all(o.get(k) == v for k, v in params.items() if k in ("customer", "subscription", "status"))
        ]
        return {
            "object": "list",
            "data": [self._public(o, {}) for o in found],
            "has_more": False,
            "url": f"/v1/{collection}",
        }

    def _create(self, collection: str, params: dict) -> dict:
        if collection == "customers":
            obj = self.add_customer(
                email=params.get("email"), name=params.get("name"), metadata=params.get("metadata", {})
            )
        elif collection == "checkout/sessions":
            lines = params.get("line_items", [])
            missing = [line.get("price") for line in lines if line.get("price") not in self.objects["prices"]]
            if missing:
                return _missing(missing[0])  # type: ignore[return-value]
            obj = self._base(
                "checkout/sessions",
                mode=params.get("mode"),
                customer=params.get("customer"),
                client_reference_id=params.get("client_reference_id"),
                success_url=params.get("success_url"),
                cancel_url=params.get("cancel_url"),
                metadata=params.get("metadata", {}),
                status="open",
                payment_status="unpaid",
                subscription=None,
                payment_intent=None,
                setup_intent=None,
                currency="usd",
                amount_total=None,
                _line_items=lines,
                subscription_data=params.get("subscription_data", {}),
            )
            obj["url"] = "https://checkout.stripe.test/c/pay/" + obj["id"]
        elif collection == "billing_portal/sessions":
            if params.get("customer") not in self.objects["customers"]:
                return _missing(str(params.get("customer")))  # type: ignore[return-value]
            obj = self._base(
                "billing_portal/sessions", customer=params["customer"], return_url=params.get("return_url")
            )
            obj["url"] = "https://billing.stripe.test/p/session/" + obj["id"]
        else:
            obj = self._base(collection, **{k: v for k, v in params.items() if k != "expand"})
        return self._public(obj, params)

    def _update(self, collection: str, obj: dict, params: dict) -> None:
        if collection == "subscriptions" and "items" in params:
            now = int(time.time())
            for change in params["items"]:
                item = next((i for i in obj["items"]["data"] if i["id"] == change.get("id")), None)
                if item is None:
                    item = self._item(obj["id"], change["price"], int(change.get("quantity", 1)), now)
                    obj["items"]["data"].append(item)
                if "price" in change:
                    item["price"] = self.objects["prices"][change["price"]]
                if "quantity" in change:
                    item["quantity"] = int(change["quantity"])
            obj["quantity"] = obj["items"]["data"][0]["quantity"]
        for key, value in params.items():
            if key == "metadata":
                obj["metadata"].update(value)
            elif key not in ("items", "expand", "proration_behavior"):
                obj[key] = value

    def _delete(self, collection: str, obj: dict) -> None:
        if collection == "subscriptions":
            obj.update(status="canceled", canceled_at=int(time.time()), ended_at=int(time.time()))
        else:
            obj["deleted"] = True


def _missing(what: str) -> tuple[int, dict]:
    return 404, {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": f"No such object: '{what}'",
            "param": "id",
        }
    }
