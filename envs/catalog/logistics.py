"""Logistics: the dispatch desk of a distribution warehouse.

Stock by lot and location, customer orders with priorities, allocation, carrier bookings and
dispatch, quality holds and cases, lot traceability, delivery discrepancies and cycle counts,
customer notifications, internal messages, KPIs and the dispatch log.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal

from envs.sdk import StateModel, ToolEnv, ToolError, tool


class Product(StateModel):
    sku: str
    name: str
    unit: str = "case"
    supplier: str = ""
    unit_weight_kg: float = 0
    unit_value_gbp: float = 0


class InventoryRecord(StateModel):
    inventory_id: str
    sku: str
    lot: str
    location: str
    on_hand: int
    allocated: int = 0
    expiry: str | None = None
    status: Literal["available", "on_hold"] = "available"
    hold_ids: list[str] = []


class Customer(StateModel):
    customer_id: str
    name: str
    contact_email: str = ""
    tier: Literal["standard", "key_account"] = "standard"
    credit_status: Literal["ok", "on_hold"] = "ok"
    account_manager_id: str | None = None
    notes: list[str] = []


class Allocation(StateModel):
    inventory_id: str
    lot: str
    qty: int


class OrderLine(StateModel):
    sku: str
    qty: int
    allocations: list[Allocation] = []
    shipped: int = 0


class Order(StateModel):
    order_id: str
    customer_id: str
    placed_at: str
    required_by: str
    priority: Literal["standard", "expedite", "critical"] = "standard"
    status: Literal["open", "booked", "dispatched", "delivered", "cancelled"] = "open"
    lines: list[OrderLine]
    replacement_for: str | None = None
    notes: list[str] = []


class ShippedLine(StateModel):
    sku: str
    lot: str
    qty: int


class LoadRecord(StateModel):
    picker_id: str = ""
    pick_confirmed: dict[str, int] = {}
    pallets: int = 0
    expected_weight_kg: float = 0
    weighed_kg: float = 0
    weight_tolerance_pct: float = 0


class Shipment(StateModel):
    shipment_id: str
    order_id: str
    carrier_id: str
    status: Literal["planned", "held", "dispatched", "delivered", "cancelled"] = "planned"
    pickup_at: str
    partial: bool = False
    lines: list[ShippedLine] = []
    hold_reason: str = ""
    case_id: str | None = None
    dispatched_at: str | None = None
    delivered_at: str | None = None
    load_record: LoadRecord | None = None
    proof_of_delivery: str = ""


class Carrier(StateModel):
    carrier_id: str
    name: str
    services: list[str] = []
    cutoff: str = "15:00"
    approved: bool = True


class QualityHold(StateModel):
    hold_id: str
    sku: str
    lots: list[str]
    reason: str
    placed_at: str
    case_id: str | None = None
    status: Literal["active", "released"] = "active"
    release_reason: str = ""


class QualityCase(StateModel):
    case_id: str
    sku: str
    lots: list[str]
    title: str
    detail: str
    opened_at: str
    owner_id: str | None = None
    status: Literal["open", "closed"] = "open"


class Discrepancy(StateModel):
    discrepancy_id: str
    order_id: str
    sku: str
    qty: int
    kind: Literal["short", "over", "damaged", "wrong_item"]
    detail: str
    recorded_at: str
    status: Literal["investigating", "resolved"] = "investigating"


class CycleCount(StateModel):
    count_id: str
    location: str
    sku: str
    reason: str
    scheduled_for: str
    expected_qty: int
    status: Literal["scheduled", "done"] = "scheduled"


class Notification(StateModel):
    notification_id: str
    customer_id: str
    order_id: str | None = None
    subject: str
    body: str
    sent_at: str


class InternalMessage(StateModel):
    message_id: str
    staff_id: str
    subject: str
    body: str
    sent_at: str


class StaffMember(StateModel):
    staff_id: str
    name: str
    role: Literal[
        "dispatcher",
        "dispatch_supervisor",
        "qa_lead",
        "account_manager",
        "credit_controller",
        "warehouse_manager",
        "inventory_controller",
        "customer_service",
        "warehouse_operative",
        "transport_planner",
        "shift_manager",
        "project_lead",
    ]
    on_site: bool = True
    availability: str = ""


class SiteEvent(StateModel):
    """Something planned at the site (a closure, a family day) that other plans must respect."""

    event_id: str
    title: str
    date: str
    closes_site: bool = False
    status: Literal["provisional", "confirmed", "cancelled"] = "provisional"
    confirm_by: str | None = None
    notes: list[str] = []


class Shift(StateModel):
    shift_id: str
    date: str
    start: str
    end: str
    staff_ids: list[str]
    reason: str = ""
    overtime: bool = False


class Kpi(StateModel):
    kpi_id: str
    description: str
    period: str
    value: float
    target: float
    detail: str = ""


class LogisticsState(StateModel):
    warehouse: str = "Midlands Distribution Centre"
    products: dict[str, Product] = {}
    inventory: dict[str, InventoryRecord] = {}
    customers: dict[str, Customer] = {}
    orders: dict[str, Order] = {}
    shipments: dict[str, Shipment] = {}
    carriers: dict[str, Carrier] = {}
    quality_holds: dict[str, QualityHold] = {}
    quality_cases: dict[str, QualityCase] = {}
    discrepancies: dict[str, Discrepancy] = {}
    cycle_counts: dict[str, CycleCount] = {}
    notifications: list[Notification] = []
    messages: list[InternalMessage] = []
    staff: dict[str, StaffMember] = {}
    policies: dict[str, str] = {}
    kpis: dict[str, Kpi] = {}
    site_events: dict[str, SiteEvent] = {}
    shifts: dict[str, Shift] = {}
    dispatch_log: list[str] = []


def _line_allocated(line: dict) -> int:
    return sum(a["qty"] for a in line["allocations"])


class Logistics(ToolEnv):
    name = "logistics"
    description = (
        "The dispatch desk of a distribution warehouse: stock by lot and location, orders, "
        "allocation, carrier bookings, quality holds and cases, claims, customer contact."
    )
    State = LogisticsState

    # -- helpers ------------------------------------------------------------------------------

    def _record(self, line: str) -> None:
        self.state["dispatch_log"].append(f"{self.clock.iso()} {line}")

    def _free(self, record: dict) -> int:
        return record["on_hand"] - record["allocated"]

    def _line(self, order: dict, sku: str) -> dict:
        for line in order["lines"]:
            if line["sku"] == sku:
                return line
        skus = ", ".join(line["sku"] for line in order["lines"])
        raise ToolError(f"order {order['order_id']} has no line for {sku}; its lines: {skus}")

    def _open_shipment(self, order_id: str) -> dict | None:
        return next(
            (
                s
                for s in self.state["shipments"].values()
                if s["order_id"] == order_id and s["status"] in ("planned", "held")
            ),
            None,
        )

    def _next_pickup(self, carrier: dict) -> str:
        now = self.clock.now()
        hour, minute = (int(part) for part in carrier["cutoff"].split(":"))
        pickup = datetime.combine(now.date(), time(hour, minute), tzinfo=now.tzinfo)
        if now > pickup:
            pickup += timedelta(days=1)
        return pickup.isoformat()

    def _allocate_fefo(self, order: dict, line: dict, qty: int) -> list[dict]:
        """Allocate qty of a line from available stock, earliest expiry first."""
        candidates = sorted(
            (
                r
                for r in self.state["inventory"].values()
                if r["sku"] == line["sku"] and r["status"] == "available" and self._free(r) > 0
            ),
            key=lambda r: (r["expiry"] or "9999", r["inventory_id"]),
        )
        free = sum(self._free(r) for r in candidates)
        if free < qty:
            raise ToolError(
                f"only {free} {line['sku']} free to allocate (on hand, not allocated, not on hold)"
            )
        made = []
        remaining = qty
        for record in candidates:
            take = min(remaining, self._free(record))
            if take <= 0:
                continue
            record["allocated"] += take
            made.append({"inventory_id": record["inventory_id"], "lot": record["lot"], "qty": take})
            remaining -= take
            if remaining == 0:
                break
        for allocation in made:
            existing = next(
                (a for a in line["allocations"] if a["inventory_id"] == allocation["inventory_id"]),
                None,
            )
            if existing:
                existing["qty"] += allocation["qty"]
            else:
                line["allocations"].append(dict(allocation))
        return made

    def _book(self, order: dict, carrier_id: str, allow_partial: bool) -> dict:
        carrier = self.lookup("carriers", carrier_id)
        customer = self.state["customers"][order["customer_id"]]
        if not carrier["approved"]:
            raise ToolError(f"carrier {carrier_id} is not on the approved carrier list")
        if customer["credit_status"] == "on_hold":
            raise ToolError(
                f"customer {customer['customer_id']} is on credit hold; only the credit "
                "controller can release orders for them"
            )
        if order["status"] not in ("open", "booked"):
            raise ToolError(f"order {order['order_id']} is {order['status']}")
        if self._open_shipment(order["order_id"]):
            raise ToolError(f"order {order['order_id']} already has a shipment booked")
        short = {
            line["sku"]: line["qty"] - line["shipped"] - _line_allocated(line)
            for line in order["lines"]
            if line["qty"] - line["shipped"] - _line_allocated(line) > 0
        }
        if not any(_line_allocated(line) for line in order["lines"]):
            raise ToolError(f"nothing is allocated to {order['order_id']}; allocate stock first")
        if short and not allow_partial:
            detail = ", ".join(f"{sku} short by {qty}" for sku, qty in short.items())
            raise ToolError(
                f"order {order['order_id']} is not fully allocated ({detail}); set allow_partial "
                "to ship what is allocated and backorder the rest"
            )
        shipment_id = self.ids.new("SHP")
        shipment = {
            "shipment_id": shipment_id,
            "order_id": order["order_id"],
            "carrier_id": carrier_id,
            "status": "planned",
            "pickup_at": self._next_pickup(carrier),
            "partial": bool(short),
            "lines": [],
            "hold_reason": "",
            "case_id": None,
            "dispatched_at": None,
            "delivered_at": None,
            "load_record": None,
            "proof_of_delivery": "",
        }
        self.state["shipments"][shipment_id] = shipment
        order["status"] = "booked"
        self._record(
            f"{order['order_id']} booked with {carrier['name']} as {shipment_id} for "
            f"{shipment['pickup_at']}" + (" (partial)" if short else "")
        )
        return {**shipment, "backordered": short}

    # -- reads --------------------------------------------------------------------------------

    @tool
    def list_orders(
        self, status: str | None = None, customer_id: str | None = None, sku: str | None = None
    ) -> list[dict]:
        """List orders with their customer, dates, priority, status and allocation per line.

        Args:
            status: Only orders with this status: open, booked, dispatched, delivered, cancelled.
            customer_id: Only this customer's orders.
            sku: Only orders with a line for this SKU.
        """
        rows = []
        for order in self.state["orders"].values():
            if status is not None and order["status"] != status:
                continue
            if customer_id is not None and order["customer_id"] != customer_id:
                continue
            if sku is not None and all(line["sku"] != sku for line in order["lines"]):
                continue
            customer = self.state["customers"].get(order["customer_id"], {})
            rows.append(
                {
                    "order_id": order["order_id"],
                    "customer_id": order["customer_id"],
                    "customer": customer.get("name"),
                    "tier": customer.get("tier"),
                    "placed_at": order["placed_at"],
                    "required_by": order["required_by"],
                    "priority": order["priority"],
                    "status": order["status"],
                    "lines": [
                        {
                            "sku": line["sku"],
                            "qty": line["qty"],
                            "allocated": _line_allocated(line),
                            "shipped": line["shipped"],
                        }
                        for line in order["lines"]
                    ],
                }
            )
        return sorted(rows, key=lambda r: r["placed_at"])

    @tool
    def get_order(self, order_id: str) -> dict:
        """Read one order in full, with its allocations by lot and any shipment.

        Args:
            order_id: The order's id, e.g. "ORD-7781".
        """
        order = self.lookup("orders", order_id)
        shipments = [s for s in self.state["shipments"].values() if s["order_id"] == order_id]
        return {**order, "shipments": shipments}

    @tool
    def get_customer(self, customer_id: str) -> dict:
        """Read a customer's account: tier, credit status, account manager and notes.

        Args:
            customer_id: The customer's id.
        """
        return self.lookup("customers", customer_id)

    @tool
    def check_inventory(self, sku: str, location: str | None = None) -> dict:
        """Show stock of a SKU by lot and location, with allocated, free and held quantities.

        Args:
            sku: The SKU, e.g. "GLV-NIT-M".
            location: Only this bin location.
        """
        product = self.lookup("products", sku, "product")
        records = [
            {**r, "free": self._free(r) if r["status"] == "available" else 0}
            for r in self.state["inventory"].values()
            if r["sku"] == sku and (location is None or r["location"] == location)
        ]
        return {
            "product": product,
            "records": records,
            "on_hand": sum(r["on_hand"] for r in records),
            "allocated": sum(r["allocated"] for r in records),
            "on_hold": sum(r["on_hand"] for r in records if r["status"] == "on_hold"),
            "free": sum(r["free"] for r in records),
        }

    @tool
    def trace_lot(self, sku: str, lot: str) -> dict:
        """Trace a lot: where it is in stock, which open orders hold it and where it was shipped.

        Args:
            sku: The SKU.
            lot: The lot code.
        """
        self.lookup("products", sku, "product")
        stock = [r for r in self.state["inventory"].values() if r["sku"] == sku and r["lot"] == lot]
        shipped = []
        for shipment in self.state["shipments"].values():
            for line in shipment["lines"]:
                if line["sku"] == sku and line["lot"] == lot:
                    order = self.state["orders"][shipment["order_id"]]
                    shipped.append(
                        {
                            "shipment_id": shipment["shipment_id"],
                            "order_id": order["order_id"],
                            "customer_id": order["customer_id"],
                            "qty": line["qty"],
                            "dispatched_at": shipment["dispatched_at"],
                            "status": shipment["status"],
                        }
                    )
        allocated = []
        for order in self.state["orders"].values():
            if order["status"] in ("dispatched", "delivered", "cancelled"):
                continue
            for line in order["lines"]:
                for a in line["allocations"]:
                    if line["sku"] == sku and a["lot"] == lot:
                        allocated.append(
                            {
                                "order_id": order["order_id"],
                                "qty": a["qty"],
                                "status": order["status"],
                            }
                        )
        if not stock and not shipped and not allocated:
            raise ToolError(f"no record of lot {lot!r} for {sku}")
        return {
            "sku": sku,
            "lot": lot,
            "in_stock": stock,
            "allocated_to": allocated,
            "shipped": shipped,
        }

    @tool
    def list_shipments(self, status: str | None = None, order_id: str | None = None) -> list[dict]:
        """List shipments, optionally by status or order.

        Args:
            status: Only shipments with this status: planned, held, dispatched, delivered or
                cancelled.
            order_id: Only shipments of this order.
        """
        return [
            {
                k: s[k]
                for k in ("shipment_id", "order_id", "carrier_id", "status", "pickup_at", "partial")
            }
            for s in self.state["shipments"].values()
            if (status is None or s["status"] == status)
            and (order_id is None or s["order_id"] == order_id)
        ]

    @tool
    def get_shipment(self, shipment_id: str) -> dict:
        """Read one shipment: lines by lot, load record (picks, weights) and proof of delivery.

        Args:
            shipment_id: The shipment's id.
        """
        return self.lookup("shipments", shipment_id)

    @tool
    def read_policy(self, policy_id: str) -> dict:
        """Read a warehouse procedure or policy by its id.

        Args:
            policy_id: The policy's id, e.g. "allocation".
        """
        return {
            "policy_id": policy_id,
            "text": self.lookup("policies", policy_id, "policy", list_known=True),
        }

    @tool
    def get_kpis(self) -> list[dict]:
        """Read the service KPIs the warehouse reports on, with targets."""
        return list(self.state["kpis"].values())

    # -- writes -------------------------------------------------------------------------------

    @tool
    def allocate_stock(
        self, order_id: str, sku: str, qty: int, inventory_id: str | None = None
    ) -> dict:
        """Reserve stock for an order line. Held stock can never be allocated.

        Args:
            order_id: The order.
            sku: The order line's SKU.
            qty: How many units to allocate.
            inventory_id: Take them from this inventory record; by default the earliest-expiry
                available stock is used.
        """
        order = self.lookup("orders", order_id)
        if order["status"] not in ("open", "booked"):
            raise ToolError(f"order {order_id} is {order['status']}; it cannot take allocations")
        line = self._line(order, sku)
        if qty <= 0:
            raise ToolError("qty must be positive")
        outstanding = line["qty"] - line["shipped"] - _line_allocated(line)
        if qty > outstanding:
            raise ToolError(f"{order_id} needs only {outstanding} more {sku}")
        if inventory_id is None:
            made = self._allocate_fefo(order, line, qty)
        else:
            record = self.lookup("inventory", inventory_id, "inventory record")
            if record["sku"] != sku:
                raise ToolError(f"{inventory_id} holds {record['sku']}, not {sku}")
            if record["status"] != "available":
                raise ToolError(f"{inventory_id} (lot {record['lot']}) is on quality hold")
            if self._free(record) < qty:
                raise ToolError(f"{inventory_id} has only {self._free(record)} free")
            record["allocated"] += qty
            made = [{"inventory_id": inventory_id, "lot": record["lot"], "qty": qty}]
            existing = next(
                (a for a in line["allocations"] if a["inventory_id"] == inventory_id), None
            )
            if existing:
                existing["qty"] += qty
            else:
                line["allocations"].append(dict(made[0]))
        self._record(f"{order_id} allocated {qty} {sku}")
        return {
            "order_id": order_id,
            "sku": sku,
            "allocated_now": made,
            "line_allocated": _line_allocated(line),
            "line_qty": line["qty"],
        }

    @tool
    def release_allocation(self, order_id: str, sku: str) -> dict:
        """Return all of an order line's allocated stock to free stock.

        Args:
            order_id: The order.
            sku: The order line's SKU.
        """
        order = self.lookup("orders", order_id)
        if order["status"] in ("dispatched", "delivered"):
            raise ToolError(f"order {order_id} has already left the warehouse")
        line = self._line(order, sku)
        released = []
        for allocation in line["allocations"]:
            record = self.state["inventory"][allocation["inventory_id"]]
            record["allocated"] -= allocation["qty"]
            released.append(allocation)
        line["allocations"] = []
        self._record(f"{order_id} allocation of {sku} released")
        return {"order_id": order_id, "sku": sku, "released": released}

    @tool
    def book_shipment(self, order_id: str, carrier_id: str, allow_partial: bool = False) -> dict:
        """Book an order on a carrier's next pickup (today if before the carrier's cut-off).

        Args:
            order_id: The order to ship.
            carrier_id: The carrier, e.g. "CR-CW".
            allow_partial: Ship what is allocated now and backorder the rest.
        """
        order = self.lookup("orders", order_id)
        return self._book(order, carrier_id, allow_partial)

    @tool
    def hold_shipment(self, shipment_id: str, reason: str, case_id: str | None = None) -> dict:
        """Stop a planned shipment at the dock; it stays allocated and booked but does not leave.

        Args:
            shipment_id: The planned shipment.
            reason: Why it is held.
            case_id: The quality case the hold is made under, if any.
        """
        shipment = self.lookup("shipments", shipment_id)
        if shipment["status"] != "planned":
            raise ToolError(f"shipment {shipment_id} is {shipment['status']}, not planned")
        if not reason.strip():
            raise ToolError("a reason is required")
        if case_id is not None:
            self.lookup("quality_cases", case_id, "quality case")
        shipment.update(status="held", hold_reason=reason, case_id=case_id)
        self._record(f"{shipment_id} held at dock: {reason}" + (f" [{case_id}]" if case_id else ""))
        return {"shipment_id": shipment_id, "status": "held", "case_id": case_id}

    @tool
    def cancel_shipment(self, shipment_id: str, reason: str) -> dict:
        """Cancel a planned or held shipment; the order goes back to open, its stock allocated.

        Args:
            shipment_id: The shipment to cancel.
            reason: Why, for the dispatch log.
        """
        shipment = self.lookup("shipments", shipment_id)
        if shipment["status"] not in ("planned", "held"):
            raise ToolError(
                f"shipment {shipment_id} is {shipment['status']} and cannot be cancelled"
            )
        if not reason.strip():
            raise ToolError("a reason is required")
        shipment["status"] = "cancelled"
        order = self.state["orders"][shipment["order_id"]]
        order["status"] = "open"
        self._record(f"{shipment_id} cancelled: {reason}")
        return {"shipment_id": shipment_id, "status": "cancelled", "order_id": order["order_id"]}

    @tool
    def dispatch_shipment(self, shipment_id: str) -> dict:
        """Load and release a planned shipment to its carrier, picking the allocated stock.

        Args:
            shipment_id: The planned shipment.
        """
        shipment = self.lookup("shipments", shipment_id)
        if shipment["status"] != "planned":
            raise ToolError(
                f"shipment {shipment_id} is {shipment['status']}; only planned ones leave"
            )
        order = self.state["orders"][shipment["order_id"]]
        held = sorted(
            {
                f"{a['inventory_id']} (lot {a['lot']})"
                for line in order["lines"]
                for a in line["allocations"]
                if self.state["inventory"][a["inventory_id"]]["status"] == "on_hold"
            }
        )
        if held:
            raise ToolError(
                f"{order['order_id']} is allocated stock on quality hold: {', '.join(held)}; "
                "release the allocation and allocate other stock"
            )
        if not any(line["allocations"] for line in order["lines"]):
            raise ToolError(f"{order['order_id']} has no allocated stock to ship")
        lines = []
        for line in order["lines"]:
            for a in line["allocations"]:
                record = self.state["inventory"][a["inventory_id"]]
                record["on_hand"] -= a["qty"]
                record["allocated"] -= a["qty"]
                line["shipped"] += a["qty"]
                lines.append({"sku": line["sku"], "lot": a["lot"], "qty": a["qty"]})
            line["allocations"] = []
        shipment.update(status="dispatched", lines=lines, dispatched_at=self.clock.iso())
        order["status"] = "dispatched"
        self._record(f"{shipment_id} dispatched for {order['order_id']}")
        return {"shipment_id": shipment_id, "status": "dispatched", "lines": lines}

    @tool
    def open_quality_case(self, sku: str, lots: list[str], title: str, detail: str) -> dict:
        """Open a case in the QA register, assigned to the QA lead (case numbers are sequential).

        Args:
            sku: The product concerned.
            lots: The lot codes concerned.
            title: A short title.
            detail: What is known so far and where it came from.
        """
        self.lookup("products", sku, "product")
        if not lots:
            raise ToolError("name at least one lot")
        if not title.strip() or not detail.strip():
            raise ToolError("a title and detail are required")
        year = self.clock.now().year
        numbers = [
            int(c.rsplit("-", 1)[1])
            for c in self.state["quality_cases"]
            if c.startswith(f"QC-{year}-") and c.rsplit("-", 1)[1].isdigit()
        ]
        number = max(numbers, default=0) + 1
        case_id = f"QC-{year}-{number:03d}"
        qa = next((s for s in self.state["staff"].values() if s["role"] == "qa_lead"), None)
        self.state["quality_cases"][case_id] = {
            "case_id": case_id,
            "sku": sku,
            "lots": list(lots),
            "title": title,
            "detail": detail,
            "opened_at": self.clock.iso(),
            "owner_id": qa["staff_id"] if qa else None,
            "status": "open",
        }
        self._record(f"quality case {case_id} opened: {title}")
        return {"case_id": case_id, "owner_id": qa["staff_id"] if qa else None, "status": "open"}

    @tool
    def place_quality_hold(
        self, sku: str, lots: list[str], reason: str, case_id: str | None = None
    ) -> dict:
        """Put every unit of the given lots on hold: held stock cannot be allocated or shipped.

        Args:
            sku: The product.
            lots: The lot codes to hold.
            reason: Why.
            case_id: The quality case the hold is made under, if any.
        """
        self.lookup("products", sku, "product")
        if not lots:
            raise ToolError("name at least one lot")
        if not reason.strip():
            raise ToolError("a reason is required")
        if case_id is not None:
            self.lookup("quality_cases", case_id, "quality case")
        records = [
            r for r in self.state["inventory"].values() if r["sku"] == sku and r["lot"] in lots
        ]
        if not records:
            raise ToolError(f"no stock of {sku} in lots {', '.join(lots)}")
        hold_id = self.ids.new("QH")
        self.state["quality_holds"][hold_id] = {
            "hold_id": hold_id,
            "sku": sku,
            "lots": list(lots),
            "reason": reason,
            "placed_at": self.clock.iso(),
            "case_id": case_id,
            "status": "active",
            "release_reason": "",
        }
        for record in records:
            record["status"] = "on_hold"
            record["hold_ids"].append(hold_id)
        affected_orders = sorted(
            {
                order["order_id"]
                for order in self.state["orders"].values()
                if order["status"] in ("open", "booked")
                for line in order["lines"]
                for a in line["allocations"]
                if a["inventory_id"] in {r["inventory_id"] for r in records}
            }
        )
        self._record(f"quality hold {hold_id} on {sku} lots {', '.join(lots)}: {reason}")
        return {
            "hold_id": hold_id,
            "inventory_held": [
                {"inventory_id": r["inventory_id"], "lot": r["lot"], "on_hand": r["on_hand"]}
                for r in records
            ],
            "open_orders_allocated_held_stock": affected_orders,
        }

    @tool
    def release_quality_hold(self, hold_id: str, reason: str) -> dict:
        """Lift a quality hold so the stock can be allocated again.

        Args:
            hold_id: The hold.
            reason: Why it is released (e.g. the QA disposition).
        """
        hold = self.lookup("quality_holds", hold_id, "quality hold")
        if hold["status"] != "active":
            raise ToolError(f"hold {hold_id} is already released")
        if not reason.strip():
            raise ToolError("a reason is required")
        hold.update(status="released", release_reason=reason)
        for record in self.state["inventory"].values():
            if hold_id in record["hold_ids"]:
                record["hold_ids"].remove(hold_id)
                if not record["hold_ids"]:
                    record["status"] = "available"
        self._record(f"quality hold {hold_id} released: {reason}")
        return {"hold_id": hold_id, "status": "released"}

    @tool
    def record_discrepancy(
        self,
        order_id: str,
        sku: str,
        qty: int,
        kind: Literal["short", "over", "damaged", "wrong_item"],
        detail: str,
    ) -> dict:
        """Record a delivery discrepancy a customer reported, for investigation.

        Args:
            order_id: The delivered order.
            sku: The SKU concerned.
            qty: How many units the claim is about.
            kind: short, over, damaged or wrong_item.
            detail: What the customer reported and anything known so far.
        """
        order = self.lookup("orders", order_id)
        line = self._line(order, sku)
        if order["status"] not in ("dispatched", "delivered"):
            raise ToolError(f"order {order_id} has not been shipped")
        if qty <= 0 or qty > line["shipped"]:
            raise ToolError(f"qty must be between 1 and the {line['shipped']} shipped")
        discrepancy_id = self.ids.new("DSC")
        self.state["discrepancies"][discrepancy_id] = {
            "discrepancy_id": discrepancy_id,
            "order_id": order_id,
            "sku": sku,
            "qty": qty,
            "kind": kind,
            "detail": detail,
            "recorded_at": self.clock.iso(),
            "status": "investigating",
        }
        self._record(f"discrepancy {discrepancy_id} on {order_id}: {kind} {qty} {sku}")
        return {"discrepancy_id": discrepancy_id, "status": "investigating"}

    @tool
    def schedule_cycle_count(self, location: str, sku: str, reason: str) -> dict:
        """Schedule a physical count of a SKU at a bin location (done at 07:00 the next morning).

        Args:
            location: The bin location, e.g. "B-07-02".
            sku: The SKU to count.
            reason: Why the count is needed.
        """
        records = [
            r
            for r in self.state["inventory"].values()
            if r["location"] == location and r["sku"] == sku
        ]
        if not records:
            raise ToolError(f"no {sku} is recorded at {location}")
        tomorrow = self.clock.now().date() + timedelta(days=1)
        when = datetime.combine(tomorrow, time(7, 0), tzinfo=self.clock.now().tzinfo)
        count_id = self.ids.new("CC")
        self.state["cycle_counts"][count_id] = {
            "count_id": count_id,
            "location": location,
            "sku": sku,
            "reason": reason,
            "scheduled_for": when.isoformat(),
            "expected_qty": sum(r["on_hand"] for r in records),
            "status": "scheduled",
        }
        self._record(f"cycle count {count_id} of {sku} at {location} for {when.isoformat()}")
        return {"count_id": count_id, "scheduled_for": when.isoformat(), "status": "scheduled"}

    @tool
    def ship_replacement(
        self, original_order_id: str, sku: str, qty: int, carrier_id: str, reason: str
    ) -> dict:
        """Send free replacement goods for a shipped order, booked on the carrier's next pickup.

        Creates a replacement order, allocates stock (earliest expiry first) and books it.

        Args:
            original_order_id: The delivered order being made good.
            sku: The SKU to replace.
            qty: How many units.
            carrier_id: The carrier to book.
            reason: Why the replacement is sent.
        """
        original = self.lookup("orders", original_order_id)
        if original["status"] not in ("dispatched", "delivered"):
            raise ToolError(f"order {original_order_id} has not been shipped yet")
        line = self._line(original, sku)
        if qty <= 0 or qty > line["shipped"]:
            raise ToolError(f"qty must be between 1 and the {line['shipped']} shipped")
        if not reason.strip():
            raise ToolError("a reason is required")
        self.lookup("carriers", carrier_id)
        number = 1
        while f"{original_order_id}-R{number}" in self.state["orders"]:
            number += 1
        order_id = f"{original_order_id}-R{number}"
        order = {
            "order_id": order_id,
            "customer_id": original["customer_id"],
            "placed_at": self.clock.iso(),
            "required_by": self.clock.today(),
            "priority": "expedite",
            "status": "open",
            "lines": [{"sku": sku, "qty": qty, "allocations": [], "shipped": 0}],
            "replacement_for": original_order_id,
            "notes": [f"replacement, no charge: {reason}"],
        }
        self.state["orders"][order_id] = order
        self._allocate_fefo(order, order["lines"][0], qty)
        shipment = self._book(order, carrier_id, allow_partial=False)
        self._record(f"replacement {order_id} for {original_order_id}: {qty} {sku} ({reason})")
        return {
            "order_id": order_id,
            "shipment_id": shipment["shipment_id"],
            "pickup_at": shipment["pickup_at"],
            "charge": 0,
        }

    @tool
    def notify_customer(
        self, customer_id: str, subject: str, body: str, order_id: str | None = None
    ) -> dict:
        """Send a message to a customer's contact address.

        Args:
            customer_id: The customer.
            subject: The subject line.
            body: The message text.
            order_id: The order it concerns, if any.
        """
        self.lookup("customers", customer_id)
        if order_id is not None:
            order = self.lookup("orders", order_id)
            if order["customer_id"] != customer_id:
                raise ToolError(f"order {order_id} belongs to {order['customer_id']}")
        if not body.strip():
            raise ToolError("the message body is empty")
        notification_id = self.ids.new("NTF")
        self.state["notifications"].append(
            {
                "notification_id": notification_id,
                "customer_id": customer_id,
                "order_id": order_id,
                "subject": subject,
                "body": body,
                "sent_at": self.clock.iso(),
            }
        )
        return {"notification_id": notification_id, "customer_id": customer_id}

    @tool
    def send_internal_message(self, staff_id: str, subject: str, body: str) -> dict:
        """Message a colleague (QA lead, account manager, supervisor...).

        Args:
            staff_id: The colleague's staff id.
            subject: The subject line.
            body: The message text.
        """
        member = self.lookup("staff", staff_id, "staff member")
        if not body.strip():
            raise ToolError("the message body is empty")
        message_id = self.ids.new("MSG")
        self.state["messages"].append(
            {
                "message_id": message_id,
                "staff_id": staff_id,
                "subject": subject,
                "body": body,
                "sent_at": self.clock.iso(),
            }
        )
        result = {"message_id": message_id, "to": member["name"], "on_site": member["on_site"]}
        if member["availability"]:
            result["availability"] = member["availability"]
        return result

    # -- the site -----------------------------------------------------------------------------

    @tool
    def list_site_events(self) -> list[dict]:
        """List planned site events (closures, family days) and whether they are confirmed."""
        return sorted(self.state["site_events"].values(), key=lambda e: e["date"])

    @tool
    def confirm_site_event(self, event_id: str, note: str) -> dict:
        """Confirm a provisional site event, so suppliers and staff can rely on it.

        Args:
            event_id: The event.
            note: A note for the organisers.
        """
        event = self.lookup("site_events", event_id, "site event")
        if event["status"] != "provisional":
            raise ToolError(f"{event_id} is already {event['status']}")
        event["status"] = "confirmed"
        event["notes"].append(f"{self.clock.iso()} confirmed: {note}")
        self._record(f"site event {event_id} confirmed")
        return {"event_id": event_id, "status": "confirmed"}

    @tool
    def cancel_site_event(self, event_id: str, reason: str) -> dict:
        """Cancel a site event (provisional or confirmed); its date is free for work again.

        Args:
            event_id: The event.
            reason: Why, for the organisers.
        """
        event = self.lookup("site_events", event_id, "site event")
        if event["status"] == "cancelled":
            raise ToolError(f"{event_id} is already cancelled")
        if not reason.strip():
            raise ToolError("a reason is required")
        event["status"] = "cancelled"
        event["notes"].append(f"{self.clock.iso()} cancelled: {reason}")
        self._record(f"site event {event_id} cancelled: {reason}")
        return {"event_id": event_id, "status": "cancelled"}

    @tool
    def schedule_shift(
        self, date: str, start: str, end: str, staff_ids: list[str], reason: str
    ) -> dict:
        """Schedule an extra (overtime) shift. Not on a day a site event closes the site.

        Args:
            date: The day, YYYY-MM-DD.
            start: Start time, HH:MM.
            end: End time, HH:MM.
            staff_ids: Who works it.
            reason: Why the shift is needed.
        """
        if not staff_ids:
            raise ToolError("name the staff who work the shift")
        for staff_id in staff_ids:
            self.lookup("staff", staff_id, "staff member")
        closing = [
            e
            for e in self.state["site_events"].values()
            if e["date"] == date and e["closes_site"] and e["status"] != "cancelled"
        ]
        if closing:
            raise ToolError(
                f"the site is closed on {date} for {closing[0]['event_id']} "
                f"({closing[0]['title']}); cancel the event first"
            )
        shift_id = self.ids.sequence("SFT")
        self.state["shifts"][shift_id] = {
            "shift_id": shift_id,
            "date": date,
            "start": start,
            "end": end,
            "staff_ids": list(staff_ids),
            "reason": reason,
            "overtime": True,
        }
        self._record(f"overtime shift {shift_id} on {date} {start}-{end}: {reason}")
        return {"shift_id": shift_id, "date": date, "staff": len(staff_ids)}

    @tool
    def log_dispatch_note(self, note: str) -> dict:
        """Add a note to the dispatch log for the next shift.

        Args:
            note: The note text.
        """
        if not note.strip():
            raise ToolError("the note is empty")
        self._record(f"NOTE {note}")
        return {"entries": len(self.state["dispatch_log"])}
